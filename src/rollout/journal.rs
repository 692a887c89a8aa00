//! The rollout's journal: an append-only record of every decision, action and result.
