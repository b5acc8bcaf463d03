//! Per-subscriber bandwidth allocation: which layer of each subscribed track fits the
//! subscriber's estimated downlink ([`allocate`]), and decisions that do not flap
//! ([`Governor`]).

pub mod allocate;
pub mod governor;

pub use allocate::{Allocation, TrackAllocation, TrackDemand, VideoPriority, allocate};
pub use governor::{Decision, Governor, GovernorConfig, TrackDecision};
