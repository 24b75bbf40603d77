#ifndef CONVEYOR_CRABBITMQ_SHIM_H
#define CONVEYOR_CRABBITMQ_SHIM_H
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <stdint.h>

/* amqp_login_with_properties is variadic (SASL arguments), which Swift cannot call: PLAIN login wrapper. */
static inline amqp_rpc_reply_t conveyor_amqp_login_plain(amqp_connection_state_t state, const char *vhost,
                                                         int channel_max, int frame_max, int heartbeat,
                                                         const amqp_table_t *client_properties,
                                                         const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

/* EXTERNAL login (x509 client certificate; RabbitMQ's rabbitmq_auth_mechanism_ssl): the identity is the user name,
   often empty (the broker takes it from the certificate). */
static inline amqp_rpc_reply_t conveyor_amqp_login_external(amqp_connection_state_t state, const char *vhost,
                                                            int channel_max, int frame_max, int heartbeat,
                                                            const amqp_table_t *client_properties,
                                                            const char *identity) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, client_properties,
                                      AMQP_SASL_METHOD_EXTERNAL, identity);
}

/* Why a TLS peer verification failed. librabbitmq 0.11 reports only AMQP_STATUS_SSL_PEER_VERIFY_FAILED; the X.509
   error (unknown CA, expired, ...) is read here through a verify callback on the socket's SSL_CTX, which keeps
   librabbitmq's own mode (SSL_VERIFY_NONE, with the result checked after the handshake) and only records the first
   error on the calling thread (each AMQP connection opens its socket on its own thread). The OpenSSL functions are
   looked up at run time in the libssl that librabbitmq loaded, so this target needs no OpenSSL headers or link
   flags (Homebrew keeps OpenSSL off the default paths); without them the detail is simply missing. */
#include <dlfcn.h>
/* The error recorded on this thread (a function-local static: Swift's importer emits it with the function). */
static inline long *conveyor_tls_verify_error_slot(void) {
    static __thread long code;
    return &code;
}
typedef int (*conveyor_x509_get_error_fn)(void *);
static int conveyor_tls_verify_callback(int ok, void *store) {
    if (!ok && *conveyor_tls_verify_error_slot() == 0) {
        conveyor_x509_get_error_fn get_error = (conveyor_x509_get_error_fn)dlsym(RTLD_DEFAULT, "X509_STORE_CTX_get_error");
        *conveyor_tls_verify_error_slot() = get_error ? get_error(store) : -1;
    }
    return ok;
}
/* Installs the callback on the socket's context and clears the recorded error; returns 0 when OpenSSL's function
   was not found. SSL_VERIFY_NONE is 0. */
static inline int conveyor_tls_track_verify_errors(amqp_socket_t *socket) {
    typedef void (*set_verify_fn)(void *, int, int (*)(int, void *));
    set_verify_fn set_verify = (set_verify_fn)dlsym(RTLD_DEFAULT, "SSL_CTX_set_verify");
    void *context = amqp_ssl_socket_get_context(socket);
    *conveyor_tls_verify_error_slot() = 0;
    if (!set_verify || !context) return 0;
    set_verify(context, 0, conveyor_tls_verify_callback);
    return 1;
}
/* OpenSSL's text for the error recorded on this thread since conveyor_tls_track_verify_errors, or NULL. */
static inline const char *conveyor_tls_verify_error(void) {
    typedef const char *(*error_string_fn)(long);
    long code = *conveyor_tls_verify_error_slot();
    if (code <= 0) return NULL;
    error_string_fn error_string = (error_string_fn)dlsym(RTLD_DEFAULT, "X509_verify_cert_error_string");
    return error_string ? error_string(code) : NULL;
}

/* Coalesced TLS writes. librabbitmq sends a publish as three frames (method, header, body), each with a send call
   of its own, the first two flagged "more to come" (AMQP_SF_MORE). Its TCP socket turns the flag into MSG_MORE; its
   TLS socket ignores it (0.8 to 0.16), so each frame becomes a TLS record of its own, encrypted and written with a
   system call of its own. conveyor_tls_coalesce_writes replaces the send function of a TLS socket with one that
   keeps "more" frames in a buffer and writes them with the frame that ends the run: one SSL_write, one record when
   they fit in one. The socket's class (six function pointers, the first field of every librabbitmq socket) is
   private to librabbitmq, but the same from 0.8 to 0.16; other versions keep the plain send. Each AMQP connection
   sends on its own thread only, so the buffer is the thread's; conveyor_coalesced_writes_release frees it. */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
typedef ssize_t (*conveyor_socket_send_fn)(void *, const void *, size_t, int);
struct conveyor_socket_class {
    conveyor_socket_send_fn send;
    void *recv, *open, *close, *get_sockfd, *delete_;
};
/* The buffered frames: at most one TLS record's payload (a larger frame is written as it comes). */
enum { conveyor_coalesce_capacity = 16384 };
struct conveyor_coalesce_state {
    unsigned char *buffer; /* conveyor_coalesce_capacity bytes, allocated on first use */
    void *socket;          /* the socket the buffered frames are for */
    size_t used, flushed;
    int flushing;          /* a write of the buffer is under way */
    int holds_frame;       /* the buffer holds the frame of the call that started the write */
    int direct;            /* a frame too large for the buffer is being written from librabbitmq's own bytes */
};
static inline struct conveyor_coalesce_state *conveyor_coalesce_state(void) {
    static __thread struct conveyor_coalesce_state state;
    return &state;
}
/* The TLS socket class's own send, and the class with the coalescing send in its place. */
static inline conveyor_socket_send_fn *conveyor_tls_plain_send(void) {
    static conveyor_socket_send_fn send;
    return &send;
}
static inline struct conveyor_socket_class *conveyor_coalescing_class(void) {
    static struct conveyor_socket_class coalescing;
    return &coalescing;
}
static inline void conveyor_coalesce_reset(struct conveyor_coalesce_state *st, void *socket) {
    st->socket = socket;
    st->used = 0;
    st->flushed = 0;
    st->flushing = 0;
    st->holds_frame = 0;
    st->direct = 0;
}
/* -0x1301, -0x1302: librabbitmq's private "need read", "need write" statuses; it polls and calls again with the same
   frame. OpenSSL then requires the same SSL_write again (same bytes, same address): a write that must be retried is
   therefore always retried from where it started, the buffer or librabbitmq's own bytes, never moved between them. */
static inline int conveyor_send_must_retry(ssize_t status) { return status == -0x1301 || status == -0x1302; }

/* Writes the buffer to its end; 0 when done, else the status to return (the state is kept for a retry, or cleared
   after a failure). */
static inline ssize_t conveyor_flush(struct conveyor_coalesce_state *st, conveyor_socket_send_fn send, void *base) {
    st->flushing = 1;
    while (st->flushed < st->used) {
        ssize_t sent = send(base, st->buffer + st->flushed, st->used - st->flushed, 0);
        if (sent <= 0) {
            if (!conveyor_send_must_retry(sent)) conveyor_coalesce_reset(st, base);
            return sent < 0 ? sent : AMQP_STATUS_SOCKET_ERROR;
        }
        st->flushed += (size_t)sent;
    }
    st->used = 0;
    st->flushed = 0;
    st->flushing = 0;
    return 0;
}

/* Writes a frame too large for the buffer from librabbitmq's bytes, remembering a write to retry. */
static inline ssize_t conveyor_send_direct(struct conveyor_coalesce_state *st, conveyor_socket_send_fn send, void *base,
                                           const void *bytes, size_t len, int flags) {
    ssize_t sent = send(base, bytes, len, flags);
    st->direct = conveyor_send_must_retry(sent);
    return sent;
}

/* librabbitmq calls again with the same frame after a "need read/write" status, until the frame is sent or the
   connection is lost: a write of the buffer that did not finish is resumed by that call, and the frame is taken
   once only. */
static ssize_t conveyor_coalescing_send(void *base, const void *bytes, size_t len, int flags) {
    conveyor_socket_send_fn send = *conveyor_tls_plain_send();
    struct conveyor_coalesce_state *st = conveyor_coalesce_state();
    if (st->socket != base) conveyor_coalesce_reset(st, base);
    if (st->direct) return conveyor_send_direct(st, send, base, bytes, len, flags);
    if (!st->buffer) st->buffer = (unsigned char *)malloc(conveyor_coalesce_capacity);
    if (!st->buffer) return send(base, bytes, len, flags);
    if (st->flushing) {
        /* The retry of a call whose write of the buffer did not finish. */
        ssize_t status = conveyor_flush(st, send, base);
        if (status != 0) return status;
        if (st->holds_frame) {
            st->holds_frame = 0;
            return (ssize_t)len;
        }
    }
    if (len > (size_t)conveyor_coalesce_capacity - st->used) {
        /* Does not fit: the frames before it go first, alone. */
        if (st->used > 0) {
            st->holds_frame = 0;
            ssize_t status = conveyor_flush(st, send, base);
            if (status != 0) return status;
        }
        if (len > (size_t)conveyor_coalesce_capacity) return conveyor_send_direct(st, send, base, bytes, len, flags);
    }
    memcpy(st->buffer + st->used, bytes, len);
    st->used += len;
    if (flags & 1) return (ssize_t)len; /* AMQP_SF_MORE: more frames follow */
    st->holds_frame = 1;
    ssize_t status = conveyor_flush(st, send, base);
    if (status != 0) return status;
    st->holds_frame = 0;
    return (ssize_t)len;
}
/* Puts the coalescing send on an opened TLS socket (the TLS configuration functions check the socket's class, so
   after them) and clears this thread's buffer; returns 0 when the librabbitmq version is not a known one. */
static inline int conveyor_tls_coalesce_writes(amqp_socket_t *socket) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    uint32_t version = amqp_version_number();
    if (version < 0x00080000u || version >= 0x00110000u) return 0;
    const struct conveyor_socket_class **klass = (const struct conveyor_socket_class **)socket;
    struct conveyor_socket_class *coalescing = conveyor_coalescing_class();
    if (*klass == coalescing) return 1;
    pthread_mutex_lock(&lock);
    if (!*conveyor_tls_plain_send()) {
        *coalescing = **klass;
        *conveyor_tls_plain_send() = coalescing->send;
        coalescing->send = conveyor_coalescing_send;
    }
    int known = coalescing->recv == (*klass)->recv;
    pthread_mutex_unlock(&lock);
    if (!known) return 0;
    conveyor_coalesce_reset(conveyor_coalesce_state(), socket);
    *klass = coalescing;
    return 1;
}
/* Frees this thread's write buffer (when its connection thread ends). */
static inline void conveyor_coalesced_writes_release(void) {
    struct conveyor_coalesce_state *st = conveyor_coalesce_state();
    free(st->buffer);
    st->buffer = NULL;
    conveyor_coalesce_reset(st, NULL);
}

/* Method ids and property flags as plain constants (the macros carry casts). */
static const uint32_t conveyor_method_basic_deliver = AMQP_BASIC_DELIVER_METHOD;
static const uint32_t conveyor_method_basic_ack = AMQP_BASIC_ACK_METHOD;
static const uint32_t conveyor_method_basic_nack = AMQP_BASIC_NACK_METHOD;
static const uint32_t conveyor_method_basic_return = AMQP_BASIC_RETURN_METHOD;
static const uint32_t conveyor_method_basic_cancel = AMQP_BASIC_CANCEL_METHOD;
static const uint32_t conveyor_method_basic_get_ok = AMQP_BASIC_GET_OK_METHOD;
static const uint32_t conveyor_method_channel_close = AMQP_CHANNEL_CLOSE_METHOD;
static const uint32_t conveyor_method_channel_close_ok = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const uint32_t conveyor_method_connection_close = AMQP_CONNECTION_CLOSE_METHOD;
static const uint32_t conveyor_method_connection_close_ok = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const uint32_t conveyor_method_connection_blocked = AMQP_CONNECTION_BLOCKED_METHOD;
static const uint32_t conveyor_method_connection_unblocked = AMQP_CONNECTION_UNBLOCKED_METHOD;

static const uint32_t conveyor_flag_content_type = AMQP_BASIC_CONTENT_TYPE_FLAG;
static const uint32_t conveyor_flag_headers = AMQP_BASIC_HEADERS_FLAG;
static const uint32_t conveyor_flag_delivery_mode = AMQP_BASIC_DELIVERY_MODE_FLAG;
static const uint32_t conveyor_flag_priority = AMQP_BASIC_PRIORITY_FLAG;
static const uint32_t conveyor_flag_correlation_id = AMQP_BASIC_CORRELATION_ID_FLAG;
static const uint32_t conveyor_flag_message_id = AMQP_BASIC_MESSAGE_ID_FLAG;
static const uint32_t conveyor_flag_timestamp = AMQP_BASIC_TIMESTAMP_FLAG;
static const uint32_t conveyor_flag_expiration = AMQP_BASIC_EXPIRATION_FLAG;

/* Field-value constructors (the value is a union, awkward from Swift). */
static inline amqp_field_value_t conveyor_field_utf8(amqp_bytes_t bytes) {
    amqp_field_value_t v; v.kind = AMQP_FIELD_KIND_UTF8; v.value.bytes = bytes; return v;
}
static inline amqp_field_value_t conveyor_field_i64(int64_t i) {
    amqp_field_value_t v; v.kind = AMQP_FIELD_KIND_I64; v.value.i64 = i; return v;
}
static inline amqp_field_value_t conveyor_field_bool(int b) {
    amqp_field_value_t v; v.kind = AMQP_FIELD_KIND_BOOLEAN; v.value.boolean = b ? 1 : 0; return v;
}
static inline amqp_field_value_t conveyor_field_table(amqp_table_t t) {
    amqp_field_value_t v; v.kind = AMQP_FIELD_KIND_TABLE; v.value.table = t; return v;
}

/* Reads an integer-like field value; returns 1 and stores it in *out when the kind is an integer. An unsigned
   64-bit value above INT64_MAX is stored as INT64_MAX (saturated, not wrapped to a negative number). */
static inline int conveyor_field_integer(const amqp_field_value_t *v, int64_t *out) {
    switch (v->kind) {
    case AMQP_FIELD_KIND_I8: *out = v->value.i8; return 1;
    case AMQP_FIELD_KIND_U8: *out = v->value.u8; return 1;
    case AMQP_FIELD_KIND_I16: *out = v->value.i16; return 1;
    case AMQP_FIELD_KIND_U16: *out = v->value.u16; return 1;
    case AMQP_FIELD_KIND_I32: *out = v->value.i32; return 1;
    case AMQP_FIELD_KIND_U32: *out = v->value.u32; return 1;
    case AMQP_FIELD_KIND_I64: *out = v->value.i64; return 1;
    case AMQP_FIELD_KIND_U64: *out = v->value.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->value.u64; return 1;
    default: return 0;
    }
}
/* Returns the bytes of a string field (kind 'S' or 'x'), or empty bytes with NULL data. */
static inline amqp_bytes_t conveyor_field_string(const amqp_field_value_t *v) {
    if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES) return v->value.bytes;
    amqp_bytes_t empty = {0, NULL}; return empty;
}
#endif
