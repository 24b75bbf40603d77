import Mustache

/// The dashboard's pages as Mustache templates, compiled into the module so that the CLI binary needs no files
/// beside it. Every `{{value}}` is HTML-escaped (`<`, `>`, `&`, `"`, `'`); no template uses the unescaped forms, so
/// nothing from a job (task names, payloads, reasons, headers) can become markup. Scripts and styles are served
/// from `assets/`, so the pages' Content-Security-Policy allows no inline script.
enum DashboardTemplates {
    /// The compiled templates, or why they did not compile (a test renders every page).
    static let library: Result<MustacheLibrary, any Error> = Result {
        var library = MustacheLibrary()
        for (name, text) in sources { try library.register(text, named: name) }
        return library
    }

    static let sources: [(String, String)] = [
        ("header", header), ("footer", footer), ("overview", overview), ("queue", queue), ("deadLetters", deadLetters),
        ("deadLetter", deadLetter), ("schedules", schedules), ("workers", workers), ("message", message),
    ]

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{pageTitle}} · Conveyor</title>
        <link rel="stylesheet" href="{{base}}/assets/dashboard.css">
        <script src="{{base}}/assets/dashboard.js" defer></script>
        </head>
        <body data-base="{{base}}" data-csrf="{{csrf}}">
        <header><strong>Conveyor</strong>
        <nav><a href="{{base}}/">Queues</a> <a href="{{base}}/workers">Workers</a>{{#hasSchedules}} <a href="{{base}}/schedules">Schedules</a>{{/hasSchedules}}</nav>
        </header>
        <main>
        <h1>{{pageTitle}}</h1>

        """

    static let footer = """
        </main>
        <footer>Live figures come from the workers' job events; the brokers keep no history, so completed-job search and
        long-term charts are not here: {{#metricsURL}}see <a href="{{metricsURL}}">the Prometheus metrics</a>{{/metricsURL}}{{^metricsURL}}scrape the workers' Prometheus metrics (<code>conveyor worker --metrics-port</code>){{/metricsURL}} instead.</footer>
        </body>
        </html>

        """

    static let overview = """
        {{> header}}
        <table id="queues">
        <thead><tr><th>Queue</th><th>Ready</th><th>In flight</th><th>Delayed</th><th>Dead letters</th><th>Paused</th><th>Jobs/s</th></tr></thead>
        <tbody>
        {{#queues}}
        <tr data-queue="{{queue}}">
        <td><a href="{{base}}/queues/{{path}}">{{queue}}</a></td>
        <td data-field="ready">{{ready}}</td><td data-field="in_flight">{{inFlight}}</td><td data-field="delayed">{{delayed}}</td>
        <td><a data-field="dead_lettered" href="{{base}}/queues/{{path}}/dead-letters">{{deadLettered}}</a></td>
        <td data-field="paused">{{paused}}</td><td data-field="jobs_per_second">{{jobsPerSecond}}</td>
        </tr>
        {{#error}}<tr><td colspan="7" class="error">{{error}}</td></tr>{{/error}}
        {{/queues}}
        </tbody>
        </table>
        {{> footer}}
        """

    static let queue = """
        {{> header}}
        <p class="counts">Ready <b>{{ready}}</b> · in flight <b>{{inFlight}}</b> · delayed <b>{{delayed}}</b> ·
        <a href="{{base}}/queues/{{path}}/dead-letters">dead letters <b>{{deadLettered}}</b></a> · {{jobsPerSecond}} jobs/s</p>
        {{#error}}<p class="error">{{error}}</p>{{/error}}
        {{#canPause}}
        <form method="post" action="{{base}}/queues/{{path}}/{{pauseAction}}">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p>{{#isPaused}}<b>Paused</b>: workers take no new job from this queue. {{/isPaused}}<button type="submit" id="pause-button">{{pauseLabel}}</button></p>
        </form>
        {{/canPause}}
        {{^following}}<p class="error">Live events are not followed{{#problem}}: {{problem}}{{/problem}}.</p>{{/following}}
        <h2>Running</h2>
        <table id="running" data-queue="{{queue}}">
        <thead><tr><th>Job</th><th>Task</th><th>Attempt</th><th>Progress</th><th>Note</th></tr></thead>
        <tbody>
        {{#running}}
        <tr data-job="{{id}}"><td><code>{{id}}</code></td><td>{{task}}</td><td>{{attempt}}</td>
        <td><progress max="1" value="{{progressValue}}"></progress></td><td>{{note}}</td></tr>
        {{/running}}
        </tbody>
        </table>
        <h2>Events</h2>
        <ol id="events" reversed></ol>
        <h2>Recent failures</h2>
        <table id="failures">
        <thead><tr><th>When</th><th>Job</th><th>Task</th><th>Attempt</th><th>What</th><th>Code</th><th>Reason</th></tr></thead>
        <tbody>
        {{#failures}}
        <tr><td>{{at}}</td><td><code>{{id}}</code></td><td>{{task}}</td><td>{{attempt}}</td><td>{{kind}}</td><td>{{code}}</td><td>{{message}}</td></tr>
        {{/failures}}
        </tbody>
        </table>
        {{> footer}}
        """

    static let deadLetters = """
        {{> header}}
        {{#error}}<p class="error">{{error}}</p>{{/error}}
        <p>{{count}} dead letters in all; the first {{shown}} are listed. <a href="{{base}}/queues/{{path}}">Back to the queue</a></p>
        <form method="post" action="{{base}}/queues/{{path}}/dead-letters/redrive">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <table id="dead-letters">
        <thead><tr><th></th><th>Job</th><th>Task</th><th>Code</th><th>Reason</th><th>Attempts</th><th>Dead-lettered</th></tr></thead>
        <tbody>
        {{#letters}}
        <tr><td>{{#id}}<input type="checkbox" name="id" value="{{id}}">{{/id}}</td>
        <td>{{#id}}<a href="{{base}}/queues/{{path}}/dead-letters/{{idPath}}"><code>{{id}}</code></a>{{/id}}{{^id}}(unreadable){{/id}}</td>
        <td>{{task}}</td><td>{{code}}</td><td>{{reason}}</td><td>{{attempts}}</td><td>{{at}}</td></tr>
        {{/letters}}
        </tbody>
        </table>
        <p><button type="submit">Redrive selected</button></p>
        </form>
        <form method="post" action="{{base}}/queues/{{path}}/dead-letters/redrive">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="all" value="1">
        <p><button type="submit">Redrive all</button></p>
        </form>
        <form method="post" action="{{base}}/queues/{{path}}/dead-letters/purge">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label>Type the queue's name to delete every dead letter: <input name="confirm" autocomplete="off"></label>
        <button type="submit">Purge</button></p>
        </form>
        {{> footer}}
        """

    static let deadLetter = """
        {{> header}}
        <p><a href="{{base}}/queues/{{path}}/dead-letters">Back to the dead letters</a></p>
        <table class="fields">
        {{#fields}}<tr><th>{{name}}</th><td>{{value}}</td></tr>{{/fields}}
        </table>
        <h2>Headers</h2>
        <table class="fields">
        {{#headers}}<tr><th>{{name}}</th><td>{{value}}</td></tr>{{/headers}}
        </table>
        <h2>Payload</h2>
        <pre id="payload">{{payload}}</pre>
        <h2>Raw body</h2>
        <pre id="raw-body">{{rawBody}}</pre>
        <form method="post" action="{{base}}/queues/{{path}}/dead-letters/redrive">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="id" value="{{id}}">
        <p><button type="submit">Redrive this job</button></p>
        </form>
        {{> footer}}
        """

    static let schedules = """
        {{> header}}
        {{#error}}<p class="error">{{error}}</p>{{/error}}
        <table id="schedules">
        <thead><tr><th>Id</th><th>Schedule</th><th>Time zone</th><th>Task</th><th>Queue</th><th>Missed slots</th><th>Last slot</th><th>Next slot</th><th></th></tr></thead>
        <tbody>
        {{#schedules}}
        <tr><td>{{id}}</td><td><code>{{schedule}}</code></td><td>{{timeZone}}</td><td>{{task}}</td><td>{{queue}}</td><td>{{missed}}</td><td>{{last}}</td><td>{{next}}</td>
        <td><form method="post" action="{{base}}/schedules/remove"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="id" value="{{id}}"><button type="submit">Remove</button></form></td></tr>
        {{/schedules}}
        </tbody>
        </table>
        <p class="note">The last slot is the schedule's most recent time; the schedulers fire every slot while one of them runs.</p>
        <h2>Add a schedule</h2>
        <form method="post" action="{{base}}/schedules">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label>Id <input name="id" required></label> <label>Schedule <input name="schedule" placeholder="*/5 * * * * or every 15m" required></label>
        <label>Time zone <input name="time_zone" value="UTC"></label></p>
        <p><label>Task <input name="task" required></label> <label>Queue <input name="queue" value="default"></label>
        <label>Payload (JSON) <input name="payload" value="{}"></label>
        <label>Missed slots <select name="missed"><option value="skip">skip</option><option value="run-once">run once</option></select></label></p>
        <p><button type="submit">Add</button></p>
        </form>
        {{> footer}}
        """

    static let workers = """
        {{> header}}
        <table id="workers">
        <thead><tr><th>Host</th><th>Pid</th><th>Queues</th><th>Concurrency</th><th>Busy</th><th>Up since</th><th>Last heartbeat</th></tr></thead>
        <tbody>
        {{#workers}}
        <tr><td>{{host}}</td><td>{{pid}}</td><td>{{queues}}</td><td>{{concurrency}}</td><td>{{busy}}</td><td>{{startedAt}}</td><td>{{seenAt}}</td></tr>
        {{/workers}}
        </tbody>
        </table>
        <p class="note">Workers send a heartbeat every few seconds to each queue they consume while someone observes it; a
        worker not heard from for {{expiry}} seconds is left out.{{^following}} Live events are not followed, so no worker is heard.{{/following}}</p>
        {{> footer}}
        """

    static let message = """
        {{> header}}
        <p class="{{style}}">{{text}}</p>
        <p><a href="{{back}}">Back</a></p>
        {{> footer}}
        """
}
