//! pretix-race: watch a pretix secondhand marketplace, put a listed ticket in the cart the instant
//! it appears, and hand the session to the person, who finishes checkout.
//!
//! Layout: [`cli`] parses flags, [`config`] resolves them once; [`core`] holds the engine's powers
//! (HTTP session and politeness governor, pretix knowledge, hand-over, notifications) and never
//! touches Lua; [`sim`] is the simulated marketplace and shop; [`clock`] and [`log`] sit below
//! them all (README, Architecture: the layers); [`lua`] exposes those powers to strategy scripts
//! and runs the chosen one (the default is `scripts/default.lua`, embedded); [`app`] ties one run
//! together; [`error`] maps how it ended to an exit code.

pub mod alert_test;
pub mod app;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod ending;
pub mod error;
pub mod handoff_test;
pub mod log;
pub mod lua;
#[cfg(feature = "simulator")]
pub mod sim;
pub mod supervisor;

pub use app::run;
