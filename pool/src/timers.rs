//! Pending timers of one isolate, in due order, each owned by the render
//! that set it. The host keeps ids, due times and owners; callbacks and
//! arguments live in the prelude's table on the JS heap.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::RenderId;

/// Most timers one isolate may have pending at once; `setTimeout` past it
/// throws a RangeError. Each pending timer costs host memory outside the JS
/// heap.
pub(crate) const MAX_PENDING_TIMERS: usize = 10_000;

struct Timer {
    repeat: Option<Duration>,
    owner: RenderId,
}

/// Pending timers ordered by due time, then by id (registration order).
#[derive(Default)]
pub(crate) struct Timers {
    next_id: u32,
    by_due: BTreeMap<(Instant, u32), Timer>,
    due_of: HashMap<u32, Instant>,
    /// Ids each render set (some may have fired or been cleared since).
    by_owner: HashMap<RenderId, Vec<u32>>,
}

impl Timers {
    /// Registers a timer for `owner`; None past [`MAX_PENDING_TIMERS`].
    pub fn add(&mut self, due: Instant, repeat: Option<Duration>, owner: RenderId) -> Option<u32> {
        if self.due_of.len() >= MAX_PENDING_TIMERS {
            return None;
        }
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let id = self.next_id;
        self.by_due.insert((due, id), Timer { repeat, owner });
        self.due_of.insert(id, due);
        self.by_owner.entry(owner).or_default().push(id);
        Some(id)
    }

    pub fn remove(&mut self, id: u32) {
        if let Some(due) = self.due_of.remove(&id) {
            self.by_due.remove(&(due, id));
        }
    }

    /// When the earliest timer is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.by_due.first_key_value().map(|((due, _), _)| *due)
    }

    /// Takes the earliest timer if it is due at `now`, with its owner; a
    /// repeating timer is put back under its id for its next run.
    pub fn pop_due(&mut self, now: Instant) -> Option<(u32, RenderId)> {
        if self.next_due()? > now {
            return None;
        }
        let ((due, id), timer) = self.by_due.pop_first()?;
        self.due_of.remove(&id);
        let owner = timer.owner;
        if let Some(every) = timer.repeat {
            let next = due.max(now) + every;
            self.by_due.insert((next, id), timer);
            self.due_of.insert(id, next);
        }
        Some((id, owner))
    }

    /// Drops the timers `owner` left pending; returns their ids (so the
    /// prelude can forget their callbacks).
    pub fn drop_owner(&mut self, owner: RenderId) -> Vec<u32> {
        let Some(ids) = self.by_owner.remove(&owner) else {
            return Vec::new();
        };
        ids.into_iter()
            .filter(|id| {
                let pending = self.due_of.contains_key(id);
                self.remove(*id);
                pending
            })
            .collect()
    }

    /// True when `owner` has a timer pending.
    pub fn owns(&self, owner: RenderId) -> bool {
        self.by_owner
            .get(&owner)
            .is_some_and(|ids| ids.iter().any(|id| self.due_of.contains_key(id)))
    }

    /// Drops every pending timer.
    pub fn clear(&mut self) {
        self.by_due.clear();
        self.due_of.clear();
        self.by_owner.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.due_of.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_due_order_and_owners_drop_theirs() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let late = timers
            .add(now + Duration::from_millis(20), None, 1)
            .unwrap();
        let early = timers.add(now, None, 2).unwrap();
        let every = timers.add(now, Some(Duration::from_millis(5)), 1).unwrap();
        assert_eq!(timers.pop_due(now), Some((early, 2)));
        assert_eq!(timers.pop_due(now), Some((every, 1)));
        assert_eq!(timers.pop_due(now), None, "the interval is due again later");
        let mut dropped = timers.drop_owner(1);
        dropped.sort();
        assert_eq!(dropped, [late, every]);
        assert_eq!(timers.len(), 0);
    }
}
