//! An answer's `body` is handed to Lua only when a script reads it (src/lua/api/values.rs): from
//! the side of scripts that do read it, in every way they do, it must be the page, whole.

use crate::support::Race;

/// Scripts that read `body`: at once, through `pairs`, through the API functions that take it,
/// and long after, from an answer kept while hundreds of others (and their garbage) came and went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_that_reads_the_body_gets_it_whole() {
    let d = Race::named("quiet")
        .args(["--interval", "0"])
        .script(
            r#"
            local race = require("race")
            local s = race.session
            local url = assert(s:discover())
            local first = assert(s:poll(url))
            -- Listed by pairs, as every field is, before it was ever read.
            local listed = {}
            for k, v in pairs(first) do listed[k] = v end
            assert(type(listed.body) == "string" and #listed.body == first.size, "pairs: no body")
            assert(first.body == listed.body and first.body:find("</html>", 1, true))
            -- The answer of a plain GET, and the functions that read a body.
            local plain = assert(s:get(url))
            assert(#plain.body == plain.size and plain.size > 1000, "get: body " .. #plain.body)
            assert(#race.market.listings(plain.body, plain.url) == 0)
            assert(#race.html.forms(plain.body, plain.url) >= 1)
            -- An answer kept unread while many others are made and dropped (the collector runs).
            local kept = assert(s:poll(url))
            for i = 1, 300 do
              local p = assert(s:poll(url))
              if i % 3 == 0 then local _ = p.body end
              local junk = {}
              for j = 1, 200 do junk[j] = { j, tostring(j) } end
            end
            assert(rawget(kept, "body") == nil, "read before it was asked for")
            assert(#kept.body == kept.size and kept.body:sub(-20):find("</html>", 1, true),
              "a kept answer's body, read late: " .. #kept.body .. " of " .. kept.size)
            print("BODIES WHOLE")
            return true
            "#,
        )
        .run()
        .await;
    assert_eq!(d.code, 0, "{d:?}");
    assert!(d.stdout.contains("BODIES WHOLE"), "{d:?}");
}
