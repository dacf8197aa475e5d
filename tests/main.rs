//! Integration tests: the real binary against a real loopback HTTPS marketplace (the simulator),
//! a real Lua VM, and, where a webhook is involved, a real loopback HTTP receiver.

mod support;

mod alerts;
mod cart_outcome;
mod commands;
mod docs;
mod engine;
mod errors;
mod gate;
mod handoff;
mod lazy_body;
mod lua_api;
mod output;
mod politeness;
mod robust;
mod scripting;
mod shop;
mod supervisor;
