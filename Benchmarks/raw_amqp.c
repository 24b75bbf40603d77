// Raw librabbitmq baseline for Conveyor's RabbitMQ benchmark: the fastest a C client does the same work.
//
//   gcc -O2 -o raw_amqp Benchmarks/raw_amqp.c -lrabbitmq -lpthread
//   ./raw_amqp [host] [port] [messages] [payload-bytes] [plain|envelope|lean] [classic|quorum]
//
// `envelope` publishes messages shaped like Conveyor's (a ~220-byte envelope around the payload, message_id,
// correlation_id, timestamp and priority properties, an `x-conveyor-task` header, `mandatory`), to tell the
// broker's cost of the richer message apart from the client's own cost. `lean` is the lightest shape that still
// carries what the RabbitMQ issue asks for: the same body, message_id, correlation_id, the task name in the `type`
// property instead of a header table, no priority, `mandatory`.
//
// Phases (same shape as `conveyor bench`): (1) publish N persistent messages to a durable queue (classic, or quorum) with
// publisher confirms, pipelined (up to 1000 unconfirmed); (2) consume them with prefetch 100 and one ack per
// message; (3) publish and consume at once on two connections (end to end), measuring publish-to-delivery
// latency from a timestamp in the body. Prints one JSON object.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *host = "127.0.0.1";
static int port = 5672;
static int messages = 100000;
static int payload = 100;
static char queue[64];
static int envelope_shape = 0;
static int lean_shape = 0;
#define WINDOW 1000

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die_on_reply(amqp_rpc_reply_t r, const char *what) {
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "raw_amqp: %s failed (reply type %d)\n", what, r.reply_type);
        exit(1);
    }
}

static amqp_connection_state_t open_connection(void) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, host, port) != AMQP_STATUS_OK) {
        fprintf(stderr, "raw_amqp: cannot connect to %s:%d\n", host, port);
        exit(1);
    }
    die_on_reply(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    die_on_reply(amqp_get_rpc_reply(conn), "channel.open");
    return conn;
}

static void close_connection(amqp_connection_state_t conn) {
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

// Reads confirm frames; blocks when `block`, else only takes what is already there.
static int read_confirms(amqp_connection_state_t conn, uint64_t *confirmed, int block) {
    amqp_frame_t frame;
    struct timeval zero = {0, 0};
    for (;;) {
        int status = block ? amqp_simple_wait_frame(conn, &frame) : amqp_simple_wait_frame_noblock(conn, &frame, &zero);
        if (status == AMQP_STATUS_TIMEOUT) return 0;
        if (status != AMQP_STATUS_OK) { fprintf(stderr, "raw_amqp: wait frame: %s\n", amqp_error_string2(status)); exit(1); }
        if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *ack = frame.payload.method.decoded;
            *confirmed = ack->multiple ? ack->delivery_tag : *confirmed + 1;
        } else if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            fprintf(stderr, "raw_amqp: nack\n");
            exit(1);
        }
        if (block) return 0;
    }
}

static void publish_all(amqp_connection_state_t conn, int count, int stamp) {
    amqp_confirm_select(conn, 1);
    die_on_reply(amqp_get_rpc_reply(conn), "confirm.select");
    char *body = malloc(payload > 8 ? payload : 8);
    memset(body, 'x', payload > 8 ? payload : 8);
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof props);
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.delivery_mode = 2;
    props.content_type = amqp_cstring_bytes("application/json");
    amqp_table_entry_t header;
    if (envelope_shape) {
        props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG |
                        AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_HEADERS_FLAG;
        props.message_id = amqp_cstring_bytes("01JABCDEFGHJKMNPQRSTVWXYZ0");
        props.correlation_id = amqp_cstring_bytes("01JABCDEFGHJKMNPQRSTVWXYZ0");
        props.timestamp = (uint64_t)time(NULL);
        props.priority = 0;
        if (lean_shape) {
            props._flags &= ~(AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_HEADERS_FLAG);
            props._flags |= AMQP_BASIC_TYPE_FLAG;
            props.type = amqp_cstring_bytes("conveyor.bench");
        }
        header.key = amqp_cstring_bytes("x-conveyor-task");
        header.value.kind = AMQP_FIELD_KIND_UTF8;
        header.value.value.bytes = amqp_cstring_bytes("conveyor.bench");
        props.headers.num_entries = 1;
        props.headers.entries = &header;
    }
    int mandatory = envelope_shape;
    uint64_t confirmed = 0;
    for (int i = 1; i <= count; i++) {
        if (stamp) { double t = now(); memcpy(body, &t, sizeof t); }
        amqp_bytes_t bytes = {(size_t)(payload > 8 ? payload : 8), body};
        if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), mandatory, 0, &props, bytes) != AMQP_STATUS_OK) {
            fprintf(stderr, "raw_amqp: publish failed\n");
            exit(1);
        }
        while ((uint64_t)i - confirmed >= WINDOW) read_confirms(conn, &confirmed, 1);
        if (i % 64 == 0) read_confirms(conn, &confirmed, 0);
    }
    while (confirmed < (uint64_t)count) read_confirms(conn, &confirmed, 1);
    free(body);
}

static double *latencies;

static void consume_all(amqp_connection_state_t conn, int count, int stamp) {
    amqp_basic_qos(conn, 1, 0, 100, 0);
    die_on_reply(amqp_get_rpc_reply(conn), "basic.qos");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    die_on_reply(amqp_get_rpc_reply(conn), "basic.consume");
    for (int received = 0; received < count;) {
        amqp_envelope_t envelope;
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &envelope, NULL, 0);
        die_on_reply(r, "consume");
        if (stamp && envelope.message.body.len >= 8) {
            double t;
            memcpy(&t, envelope.message.body.bytes, sizeof t);
            latencies[received] = now() - t;
        }
        amqp_basic_ack(conn, 1, envelope.delivery_tag, 0);
        amqp_destroy_envelope(&envelope);
        received++;
    }
}

static void *consumer_thread(void *arg) {
    (void)arg;
    amqp_connection_state_t conn = open_connection();
    consume_all(conn, messages, 1);
    close_connection(conn);
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc > 1) host = argv[1];
    if (argc > 2) port = atoi(argv[2]);
    if (argc > 3) messages = atoi(argv[3]);
    if (argc > 4) payload = atoi(argv[4]);
    if (argc > 5 && (strcmp(argv[5], "envelope") == 0 || strcmp(argv[5], "lean") == 0)) { envelope_shape = 1; payload += 220; }
    if (argc > 5 && strcmp(argv[5], "lean") == 0) lean_shape = 1;
    snprintf(queue, sizeof queue, "bench-raw-%d", (int)getpid());
    latencies = calloc(messages, sizeof(double));

    amqp_connection_state_t conn = open_connection();
    amqp_table_entry_t queue_type = {amqp_cstring_bytes("x-queue-type"), {AMQP_FIELD_KIND_UTF8, {.bytes = amqp_cstring_bytes("quorum")}}};
    amqp_table_t queue_arguments = {0, &queue_type};
    if (argc > 6 && strcmp(argv[6], "quorum") == 0) queue_arguments.num_entries = 1;
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, queue_arguments);
    die_on_reply(amqp_get_rpc_reply(conn), "queue.declare");

    double cpu0 = cpu(), t0 = now();
    publish_all(conn, messages, 0);
    double publish_s = now() - t0;
    close_connection(conn);

    conn = open_connection();
    t0 = now();
    consume_all(conn, messages, 0);
    double consume_s = now() - t0;
    close_connection(conn);

    pthread_t consumer;
    t0 = now();
    pthread_create(&consumer, NULL, consumer_thread, NULL);
    conn = open_connection();
    publish_all(conn, messages, 1);
    pthread_join(consumer, NULL);
    double e2e_s = now() - t0;
    double cpu_s = cpu() - cpu0;
    amqp_queue_delete(conn, 1, amqp_cstring_bytes(queue), 0, 0);
    close_connection(conn);

    qsort(latencies, messages, sizeof(double), compare);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"client\":\"%s\",\"messages\":%d,\"payload_bytes\":%d,\"enqueue_per_s\":%.1f,\"process_per_s\":%.1f,"
           "\"e2e_per_s\":%.1f,\"e2e_latency_p50_ms\":%.3f,\"e2e_latency_p99_ms\":%.3f,\"cpu_us_per_job\":%.2f,\"peak_rss_bytes\":%ld}\n",
           lean_shape ? "raw-librabbitmq-lean" : envelope_shape ? "raw-librabbitmq-envelope" : "raw-librabbitmq", messages, payload, messages / publish_s, messages / consume_s, messages / e2e_s,
           latencies[messages / 2] * 1e3, latencies[(int)(messages * 0.99)] * 1e3, cpu_s / (2.0 * messages) * 1e6, /* 2n jobs: each published and consumed once */
           ru.ru_maxrss * 1024L);
    return 0;
}
