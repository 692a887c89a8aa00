//! Driving an upgrade: the plan, the journal, the lock. Every write a rollout
//! makes to the cluster or the cloud goes through this module; a read-only cockpit
//! never builds any of it.

pub mod drive;
pub mod identity;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod steps;
pub mod thread;
