import CRabbitMQ
import Foundation

extension AMQPDelivery {
    /// Largest body read (RabbitMQ's own limit is 512 MiB); a larger announced size is a protocol error.
    static let maximumBodySize: UInt64 = 1 << 31

    /// Reads the content of a message — its header frame and body frames on `channel` — after its `basic.deliver`,
    /// `basic.get-ok` or `basic.return`, copying properties and body out as each frame arrives. Thread only.
    ///
    /// Used instead of librabbitmq's `amqp_read_message`, which clones the properties before reading the body and
    /// refuses some that RabbitMQ passes on from a producer as they were published (a header with an empty key:
    /// `AMQP_STATUS_INVALID_PARAMETER`). The body frames were then left unread, the connection had to be dropped, and
    /// the broker redelivered the same message first to the next connection, so that one foreign message stopped
    /// every consumer of its queue for good. Here nothing is cloned: whatever the broker delivers is read.
    ///
    /// Frames of other channels that come first (librabbitmq queues them while it waits for the reply of a
    /// synchronous method, e.g. confirms on channel 1 during a `basic.get` on channel 2) are handed to `connection`
    /// at once, as ``AMQPConnection/dispatch(_:_:)`` does while publishing; the broker sends a message's frames
    /// together, so the content of a method handled there is read there.
    ///
    /// Returns the delivery, or `nil` with the reply to check (`amqp_read_message`'s): a library error, or a server
    /// exception when the broker closes the channel or connection instead of sending the content.
    static func read(
        _ s: amqp_connection_state_t, channel: amqp_channel_t, tag: UInt64, redelivered: Bool, connection: AMQPConnection
    ) -> (AMQPDelivery?, amqp_rpc_reply_t) {
        var frame = amqp_frame_t()
        if let failure = nextFrame(s, channel, &frame, kind: AMQP_FRAME_HEADER, connection) { return (nil, failure) }
        let size = frame.payload.properties.body_size
        guard let decoded = frame.payload.properties.decoded, size <= maximumBodySize else {
            return (nil, libraryError(AMQP_STATUS_BAD_AMQP_DATA.rawValue))
        }
        // The decoded properties live in the connection's frame pool: copied before the next frame is read.
        var delivery = AMQPDelivery(
            tag: tag, redelivered: redelivered, properties: decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee, body: []
        )
        var body: [UInt8] = []
        body.reserveCapacity(Int(min(size, 1 << 24)))
        while UInt64(body.count) < size {
            if let failure = nextFrame(s, channel, &frame, kind: AMQP_FRAME_BODY, connection) { return (nil, failure) }
            let fragment = frame.payload.body_fragment
            guard UInt64(body.count) + UInt64(fragment.len) <= size else { return (nil, libraryError(AMQP_STATUS_BAD_AMQP_DATA.rawValue)) }
            body += fragment.array
        }
        delivery.body = body
        var reply = amqp_rpc_reply_t()
        reply.reply_type = AMQP_RESPONSE_NORMAL
        return (delivery, reply)
    }

    /// How long the next frame of a content may take (as the connection's RPC timeout).
    static let frameTimeout = timeval(tv_sec: 60, tv_usec: 0)

    /// Waits for the next frame on `channel` into `frame`, dispatching methods of other channels; `nil` when it is of
    /// `kind`, else the failure reply.
    private static func nextFrame(
        _ s: amqp_connection_state_t, _ channel: amqp_channel_t, _ frame: inout amqp_frame_t, kind: Int32, _ connection: AMQPConnection
    ) -> amqp_rpc_reply_t? {
        while true {
            var timeout = frameTimeout
            let status = amqp_simple_wait_frame_noblock(s, &frame, &timeout)
            guard status == AMQP_STATUS_OK.rawValue else { return libraryError(status) }
            guard frame.channel != channel else { break }
            guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return libraryError(AMQP_STATUS_UNEXPECTED_STATE.rawValue) }
            connection.dispatch(frame, s)
            guard connection.state != nil else { return libraryError(AMQP_STATUS_CONNECTION_CLOSED.rawValue) }
        }
        if frame.frame_type == UInt8(kind) { return nil }
        let method = frame.payload.method
        if frame.frame_type == UInt8(AMQP_FRAME_METHOD), method.id == conveyor_method_channel_close || method.id == conveyor_method_connection_close {
            var reply = amqp_rpc_reply_t()
            reply.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION
            reply.reply = method
            return reply
        }
        return libraryError(AMQP_STATUS_UNEXPECTED_STATE.rawValue)
    }

    private static func libraryError(_ status: Int32) -> amqp_rpc_reply_t {
        var reply = amqp_rpc_reply_t()
        reply.reply_type = AMQP_RESPONSE_LIBRARY_EXCEPTION
        reply.library_error = status
        return reply
    }
}
