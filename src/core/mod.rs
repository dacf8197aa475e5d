//! The engine's powers, free of any scripting: HTTP session and politeness, marketplace knowledge,
//! hand-over, notifications, and the simulated marketplace. Nothing here imports mlua; the `lua`
//! layer exposes these to scripts.

pub mod browser;
pub mod carts;
pub mod clock;
pub mod cookies;
pub mod governor;
pub mod handoff;
pub mod market;
pub mod notify;
pub mod pretix;
pub mod session;
pub mod sim;
pub mod stats;
