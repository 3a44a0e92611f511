//! Priority classes: reserved in-flight capacity so that bulk traffic cannot
//! starve essential services.
//!
//! The gate counts calls in flight across all services. Each class may enter
//! only while the total is below its ceiling:
//!
//! | class     | may enter while in flight < | so it never takes the last   |
//! |-----------|-----------------------------|------------------------------|
//! | bulk      | 50% of the slots            | 50% (kept for the others)    |
//! | standard  | 80% of the slots            | 20% (kept for essential)     |
//! | essential | 100% of the slots           | —                            |
//!
//! Ceilings are rounded down but never below one slot, so even a tiny gate
//! lets every class through when it is idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::registry::model::Priority;

/// Share of the slots bulk calls may fill, in percent.
const BULK_SHARE_PERCENT: usize = 50;

/// Share of the slots standard calls may fill, in percent.
const STANDARD_SHARE_PERCENT: usize = 80;

/// Admission by priority class against a shared in-flight ceiling.
#[derive(Debug, Clone)]
pub struct PriorityGate {
    /// Calls in flight, shared with the permits that release them.
    in_flight: Arc<AtomicUsize>,
    /// Ceiling for bulk calls.
    bulk_ceiling: usize,
    /// Ceiling for standard calls.
    standard_ceiling: usize,
    /// Ceiling for essential calls: every slot.
    essential_ceiling: usize,
}

impl PriorityGate {
    /// A gate with `total_in_flight` slots (at least one), split as documented above.
    pub fn new(total_in_flight: usize) -> PriorityGate {
        let total = total_in_flight.max(1);
        let share = |percent: usize| (total.saturating_mul(percent) / 100).max(1);
        PriorityGate {
            in_flight: Arc::new(AtomicUsize::new(0)),
            bulk_ceiling: share(BULK_SHARE_PERCENT),
            standard_ceiling: share(STANDARD_SHARE_PERCENT),
            essential_ceiling: total,
        }
    }

    /// Takes a slot for a call of class `priority`, or `None` when its share is full.
    pub fn try_enter(&self, priority: Priority) -> Option<PriorityPermit> {
        let ceiling = self.ceiling(priority);
        let entered = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                (current < ceiling).then_some(current + 1)
            });
        match entered {
            Ok(_) => Some(PriorityPermit {
                in_flight: Arc::clone(&self.in_flight),
            }),
            Err(current) => {
                tracing::debug!(
                    event = "priority_shed",
                    priority = ?priority,
                    in_flight = current,
                    ceiling,
                    "call held back to keep capacity for higher priority classes"
                );
                None
            }
        }
    }

    /// Calls currently in flight through this gate.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The in-flight ceiling below which `priority` may enter.
    pub fn ceiling(&self, priority: Priority) -> usize {
        match priority {
            Priority::Essential => self.essential_ceiling,
            Priority::Standard => self.standard_ceiling,
            Priority::Bulk => self.bulk_ceiling,
        }
    }
}

/// One occupied slot; dropping it frees the slot.
#[derive(Debug)]
pub struct PriorityPermit {
    /// The gate's counter to decrement on drop.
    in_flight: Arc<AtomicUsize>,
}

impl Drop for PriorityPermit {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(gate: &PriorityGate, priority: Priority) -> Vec<PriorityPermit> {
        std::iter::from_fn(|| gate.try_enter(priority)).collect()
    }

    #[test]
    fn split_is_half_bulk_four_fifths_standard() {
        let gate = PriorityGate::new(10);
        assert_eq!(gate.ceiling(Priority::Bulk), 5);
        assert_eq!(gate.ceiling(Priority::Standard), 8);
        assert_eq!(gate.ceiling(Priority::Essential), 10);
    }

    #[test]
    fn saturated_bulk_leaves_room_for_essential() {
        let gate = PriorityGate::new(10);
        let bulk = fill(&gate, Priority::Bulk);
        assert_eq!(bulk.len(), 5);
        assert!(gate.try_enter(Priority::Bulk).is_none());
        let standard = fill(&gate, Priority::Standard);
        assert_eq!(standard.len(), 3);
        let essential = fill(&gate, Priority::Essential);
        assert_eq!(essential.len(), 2);
        assert_eq!(gate.in_flight(), 10);
    }

    #[test]
    fn essential_enters_while_bulk_is_refused() {
        let gate = PriorityGate::new(100);
        let _bulk = fill(&gate, Priority::Bulk);
        assert!(gate.try_enter(Priority::Bulk).is_none());
        let essential = fill(&gate, Priority::Essential);
        assert_eq!(essential.len(), 50);
    }

    #[test]
    fn dropped_permits_free_their_slots() {
        let gate = PriorityGate::new(4);
        let bulk = fill(&gate, Priority::Bulk);
        assert_eq!(bulk.len(), 2);
        drop(bulk);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(fill(&gate, Priority::Bulk).len(), 2);
    }

    #[test]
    fn a_one_slot_gate_serves_every_class() {
        let gate = PriorityGate::new(0);
        for priority in [Priority::Bulk, Priority::Standard, Priority::Essential] {
            let permit = gate.try_enter(priority);
            assert!(permit.is_some());
            assert!(gate.try_enter(Priority::Essential).is_none());
        }
    }

    #[test]
    fn concurrent_entries_never_exceed_the_total() {
        let gate = PriorityGate::new(8);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if let Some(_permit) = gate.try_enter(Priority::Essential) {
                            assert!(gate.in_flight() <= 8);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread finished");
        }
        assert_eq!(gate.in_flight(), 0);
    }
}
