//! The application's event queue: bounded, with one ordered overflow for the events that
//! cannot wait for room.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::event::Event;

/// To the application: a bounded channel ([`crate::Config::event_queue`]) and, behind it, an
/// overflow for events handed over without waiting ([`EventQueue::push_now`]). One task drains
/// the overflow in order, and while it holds anything every event queues behind it, so the
/// application sees events in the order they were handed over.
pub(crate) struct EventQueue {
    tx: mpsc::Sender<Event>,
    overflow: Arc<Mutex<Overflow>>,
}

#[derive(Default)]
struct Overflow {
    /// Events waiting for room, each with whom to tell once it is in the channel.
    waiting: VecDeque<(Event, Option<oneshot::Sender<()>>)>,
    /// A drainer runs (it may hold the front event while it waits for room).
    draining: bool,
}

impl EventQueue {
    pub(crate) fn new(tx: mpsc::Sender<Event>) -> EventQueue {
        EventQueue {
            tx,
            overflow: Arc::default(),
        }
    }

    /// Hands `event` over, waiting while the channel is full (backpressure) or while the
    /// overflow holds earlier events.
    pub(crate) async fn push(&self, event: Event) {
        let behind = {
            let mut overflow = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
            if overflow.draining {
                let (done, delivered) = oneshot::channel();
                overflow.waiting.push_back((event, Some(done)));
                Err(delivered)
            } else {
                Ok(event)
            }
        };
        match behind {
            // The channel serves waiting senders first come, first served, so a later
            // `push_now` (which finds no room) goes to the overflow behind this one.
            Ok(event) => {
                let _ = self.tx.send(event).await;
            }
            // Dropped unanswered only when the application is gone.
            Err(delivered) => {
                let _ = delivered.await;
            }
        }
    }

    /// Hands `event` over without waiting: into the channel when it has room and nothing is
    /// overflowing, else to the back of the overflow.
    pub(crate) fn push_now(&self, event: Event) {
        let mut overflow = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
        if !overflow.draining {
            match self.tx.try_send(event) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(event)) => {
                    overflow.waiting.push_back((event, None));
                }
            }
            overflow.draining = true;
            let (tx, queue) = (self.tx.clone(), self.overflow.clone());
            // Not one of the client's background tasks: the last events (`Stopped`) are
            // handed over after those ended.
            tokio::spawn(drain(tx, queue));
        } else {
            overflow.waiting.push_back((event, None));
        }
    }

    /// How many events wait in the channel (the overflow aside).
    pub(crate) fn len(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Moves the overflow into the channel, front first, until it is empty.
async fn drain(tx: mpsc::Sender<Event>, overflow: Arc<Mutex<Overflow>>) {
    loop {
        let next = {
            let mut overflow = overflow.lock().unwrap_or_else(|e| e.into_inner());
            let next = overflow.waiting.pop_front();
            if next.is_none() {
                overflow.draining = false;
            }
            next
        };
        let Some((event, done)) = next else {
            return;
        };
        if tx.send(event).await.is_err() {
            // The application is gone: nothing more can be delivered.
            let mut overflow = overflow.lock().unwrap_or_else(|e| e.into_inner());
            overflow.waiting.clear();
            overflow.draining = false;
            return;
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(event: &Event) -> String {
        match event {
            Event::Disconnected { reason, .. } => reason.clone(),
            other => format!("{other:?}"),
        }
    }

    fn event(name: &str) -> Event {
        Event::Disconnected {
            reason: name.to_owned(),
            reconnect_in: None,
        }
    }

    /// Events handed over without waiting while the queue is full, and one handed over
    /// after them with waiting, reach the application in the order they were handed over.
    #[tokio::test]
    async fn overflowing_events_keep_their_order() {
        let (tx, mut rx) = mpsc::channel(1);
        let queue = EventQueue::new(tx);
        queue.push_now(event("full"));
        for name in ["A", "B", "C"] {
            queue.push_now(event(name));
        }
        let read = async {
            let mut seen = Vec::new();
            while seen.len() < 5 {
                seen.push(reason(&rx.recv().await.expect("an event")));
            }
            seen
        };
        let ((), seen) = tokio::join!(queue.push(event("D")), read);
        assert_eq!(seen, ["full", "A", "B", "C", "D"]);
        // Behind an overflow still draining, a later event waits its turn too.
        queue.push_now(event("E"));
        queue.push_now(event("F"));
        assert_eq!(reason(&rx.recv().await.unwrap()), "E");
        assert_eq!(reason(&rx.recv().await.unwrap()), "F");
    }

    /// Once the overflow is empty, events go straight into the channel again.
    #[tokio::test]
    async fn the_overflow_empties_and_the_channel_is_used_again() {
        let (tx, mut rx) = mpsc::channel(1);
        let queue = EventQueue::new(tx);
        queue.push_now(event("full"));
        queue.push_now(event("A"));
        assert_eq!(reason(&rx.recv().await.unwrap()), "full");
        assert_eq!(reason(&rx.recv().await.unwrap()), "A");
        // The drainer runs on this test's runtime: yield until it has seen the overflow empty.
        while queue.overflow.lock().unwrap().draining {
            tokio::task::yield_now().await;
        }
        queue.push_now(event("B"));
        assert_eq!(queue.len(), 1);
        assert!(!queue.overflow.lock().unwrap().draining);
        assert_eq!(reason(&rx.recv().await.unwrap()), "B");
    }
}
