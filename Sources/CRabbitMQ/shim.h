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
