//! Sending typed vendor events to obs-websocket clients (any thread; obs-websocket queues them).
use deckcast_protocol::Event;

/// Emits `event` (silently nothing when obs-websocket is not loaded).
pub fn emit<E: Event>(event: &E) {
    if let (Some(vendor), Ok(data)) = (
        crate::obs::vendor::Vendor::get(),
        serde_json::to_value(event),
    ) {
        vendor.emit(E::NAME, &data);
    }
}
