//! The calls offered and not ended: what turns a terminate into a missed call (`call`).

use std::collections::VecDeque;

use crate::event::CallMedia;

/// Offers not ended yet, oldest first: what turns a terminate into a missed call.
#[derive(Debug, Default)]
pub(crate) struct CallTracker {
    open: VecDeque<OpenCall>,
}

#[derive(Debug)]
struct OpenCall {
    id: String,
    media: CallMedia,
    answered: bool,
}

/// Offers remembered at most (an offer whose terminate never comes is forgotten in time).
const OPEN_CALLS: usize = 64;

impl CallTracker {
    pub(crate) fn offered(&mut self, id: &str, media: CallMedia) {
        if self.open.iter().any(|c| c.id == id) {
            return;
        }
        if self.open.len() == OPEN_CALLS {
            self.open.pop_front();
        }
        self.open.push_back(OpenCall {
            id: id.to_owned(),
            media,
            answered: false,
        });
    }

    pub(crate) fn answered(&mut self, id: &str) {
        if let Some(call) = self.open.iter_mut().find(|c| c.id == id) {
            call.answered = true;
        }
    }

    pub(crate) fn media(&self, id: &str) -> CallMedia {
        self.open
            .iter()
            .find(|c| c.id == id)
            .map_or(CallMedia::Unknown, |c| c.media)
    }

    /// Forgets the call; `true` when it was offered and never answered.
    pub(crate) fn ended(&mut self, id: &str) -> bool {
        match self.open.iter().position(|c| c.id == id) {
            Some(at) => self.open.remove(at).is_some_and(|c| !c.answered),
            None => false,
        }
    }
}
