//! The engine's powers, free of any scripting: HTTP clients, session and politeness, marketplace
//! knowledge, secured carts and their hand-over, notifications. Nothing here imports mlua; the
//! `lua` layer exposes these to scripts. The simulated marketplace lives beside it (`crate::sim`).

pub mod browser;
pub mod budget;
pub mod carts;
pub mod cookies;
pub mod devtools;
pub mod events;
pub mod failure;
pub mod gate;
pub mod governor;
pub mod handoff;
pub mod heartbeat;
pub mod http;
pub mod market;
pub mod notify;
pub mod pretix;
pub mod session;
pub mod shop;
pub mod stats;
pub mod status_page;
pub mod web;
