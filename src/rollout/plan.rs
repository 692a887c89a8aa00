//! The rollout plan: what will be upgraded, in which order, with which gates.
