//! Integration tests: the real binary against a real loopback HTTPS marketplace (the simulator),
//! a real Lua VM, and, where a webhook is involved, a real loopback HTTP receiver.

mod support;

mod adversary;
mod alerts;
mod api_shape;
mod cart_outcome;
mod commands;
mod connections;
mod devtools_door;
mod docs;
mod engine;
mod errors;
mod gate;
mod handoff;
mod lazy_body;
mod lua_api;
mod mistakes;
mod output;
mod politeness;
mod pretix_count;
mod pretix_series;
mod pretix_shop;
mod pretix_states;
mod reading;
mod reading_props;
mod rehearse_check;
mod robust;
mod scheduling;
mod scripting;
mod shop;
mod stubs;
mod supervisor;
mod targets;
mod url_mistakes;
