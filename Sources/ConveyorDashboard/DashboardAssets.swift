/// The dashboard's style sheet and script, served from `assets/` (no CDN, no external file: it works offline).
/// The script writes text with `textContent` only, never as markup.
enum DashboardAssets {
    static let css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d1d1f; }
        header { display: flex; gap: 2rem; align-items: center; padding: .6rem 1.5rem; background: #23303e; color: #fff; }
        header a { color: #cfe3ff; margin-right: 1rem; }
        main { padding: 1rem 1.5rem; }
        footer { padding: 1rem 1.5rem; color: #666; font-size: 12px; border-top: 1px solid #ddd; }
        table { border-collapse: collapse; margin: .5rem 0 1rem; }
        th, td { border-bottom: 1px solid #e3e3e3; padding: .3rem .7rem; text-align: left; vertical-align: top; }
        td { max-width: 40rem; overflow-wrap: anywhere; }
        table.fields th { background: #f6f6f6; }
        pre { background: #f6f6f6; padding: .7rem; overflow-x: auto; max-width: 100%; white-space: pre-wrap; overflow-wrap: anywhere; }
        .error { color: #a40000; }
        .note { color: #555; }
        progress { width: 10rem; }
        #events { font-family: ui-monospace, monospace; font-size: 12px; max-height: 20rem; overflow-y: auto; }
        """

    static let javascript = """
        "use strict";
        (function () {
          const base = document.body.dataset.base || "";

          // Overview: refresh the counts every 2 s from the JSON API.
          const queues = document.getElementById("queues");
          if (queues) {
            const refresh = async () => {
              try {
                const response = await fetch(base + "/api/queues", { credentials: "same-origin" });
                if (!response.ok) return;
                const rows = await response.json();
                for (const row of rows) {
                  for (const tr of queues.querySelectorAll("tr[data-queue]")) {
                    if (tr.dataset.queue !== row.queue) continue;
                    for (const cell of tr.querySelectorAll("[data-field]")) {
                      const value = row[cell.dataset.field];
                      if (value === undefined || value === null) continue;
                      cell.textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(1) : String(value);
                    }
                  }
                }
              } catch (error) { /* the next refresh tries again */ }
            };
            setInterval(refresh, 2000);
          }

          // Queue page: running jobs, events and failures from server-sent events.
          const running = document.getElementById("running");
          if (running && window.EventSource) {
            const queue = running.dataset.queue;
            const body = running.querySelector("tbody");
            const rows = new Map();
            for (const tr of body.querySelectorAll("tr[data-job]")) rows.set(tr.dataset.job, tr);
            const events = document.getElementById("events");
            const failures = document.querySelector("#failures tbody");
            const cell = (tr, text) => { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; };
            const source = new EventSource(base + "/queues/" + encodeURIComponent(queue) + "/events");
            source.addEventListener("job", (message) => {
              let event;
              try { event = JSON.parse(message.data); } catch (error) { return; }
              const line = document.createElement("li");
              line.textContent = [event.at, event.kind, event.task, event.id, "attempt " + event.attempt,
                event.progress !== undefined ? Math.round(event.progress * 100) + "%" : "", event.note || "",
                event.reason_code ? event.reason_code + ": " + (event.reason || "") : ""].filter(Boolean).join(" ");
              events.prepend(line);
              while (events.children.length > 100) events.lastElementChild.remove();
              if (event.kind === "started") {
                const tr = document.createElement("tr");
                cell(tr, event.id); cell(tr, event.task); cell(tr, String(event.attempt));
                const bar = document.createElement("progress"); bar.max = 1; bar.value = 0;
                cell(tr, "").appendChild(bar); cell(tr, "");
                rows.get(event.id)?.remove();
                rows.set(event.id, tr); body.appendChild(tr);
              } else if (event.kind === "progress") {
                const tr = rows.get(event.id);
                if (tr) {
                  const bar = tr.querySelector("progress");
                  if (bar && typeof event.progress === "number") bar.value = event.progress;
                  tr.lastElementChild.textContent = event.note || "";
                }
              } else {
                rows.get(event.id)?.remove();
                rows.delete(event.id);
                if (event.reason_code && event.kind !== "cancelled" && failures) {
                  const tr = document.createElement("tr");
                  for (const text of [event.at, event.id, event.task, String(event.attempt), event.kind, event.reason_code, event.reason || ""]) cell(tr, text);
                  failures.prepend(tr);
                  while (failures.children.length > 50) failures.lastElementChild.remove();
                }
              }
            });
          }
        })();
        """
}
