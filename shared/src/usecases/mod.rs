//! Steps on the store and the queues that more than one entry point takes: a hold's expiry
//! message and its end (the hold handler, the expiry consumer, the sweep), the sold-out flip
//! (handlers and the sweep), settling a cancelled event's orders (the fan-out and the refund
//! consumer). Their errors are the store's and the queues', never HTTP's.

pub mod availability;
pub mod holds;
pub mod settlement;
