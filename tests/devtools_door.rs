//! No open door after the hand-over (issue 17, G): the browser left for the person must not keep
//! a DevTools endpoint that any local process could use to read the live session. The hostile
//! side is any other program on the machine: it looks for a listening socket of the browser, for
//! the `DevToolsActivePort` file that names it, and for a way into the browser's DevTools pipe
//! (descriptors 3 and 4, reopened through `/proc`). And the window must still be there once
//! pretix-race is gone, though its end of the pipe closed.

use crate::support::Race;

/// Socket inodes of every process in the browser's process group.
fn socket_inodes(pgid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = p.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …: after the comm's closing parenthesis.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let pgrp: u32 = rest.split_whitespace().nth(2).unwrap().parse().unwrap();
        if pgrp != pgid {
            continue;
        }
        for fd in std::fs::read_dir(p.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(l) = std::fs::read_link(fd.path()) {
                let l = l.to_string_lossy().into_owned();
                if let Some(i) = l.strip_prefix("socket:[") {
                    out.push(i.trim_end_matches(']').to_string());
                }
            }
        }
    }
    out
}

/// Local ports listening on TCP whose socket is one of `inodes`.
fn listening(inodes: &[String]) -> Vec<u16> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let c: Vec<&str> = line.split_whitespace().collect();
            if c.len() > 9 && c[3] == "0A" && inodes.iter().any(|i| i == c[9]) {
                let port = c[1].rsplit(':').next().unwrap();
                out.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    out
}

fn devtools_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(devtools_files(&p));
        } else if p.file_name().is_some_and(|n| n == "DevToolsActivePort") {
            out.push(p);
        }
    }
    out
}

async fn no_door_after(args: &[&str]) {
    let d = Race::named("instant")
        .chromium()
        .args(args.to_vec())
        .run()
        .await;
    let pid: Option<u32> = d
        .stdout
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok());
    let Some(pid) = pid else {
        panic!("a browser was left open: {d:?}");
    };
    let inodes = socket_inodes(pid);
    let ports = listening(&inodes);
    let files = devtools_files(d.dir.path());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let flags: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // Another program of the same user, trying the browser's end of the pipe.
    let reopened: Vec<String> = [3, 4]
        .iter()
        .map(|fd| format!("/proc/{pid}/fd/{fd}"))
        .filter(|p| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .is_ok()
        })
        .collect();
    let kinds: Vec<String> = [3, 4]
        .iter()
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    // The run has exited and closed its end: a browser that took that for the end of DevTools
    // would be closing its window now. It must still be running a moment later.
    let alive_until = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    let mut gone = false;
    while std::time::Instant::now() < alive_until {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = state
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next();
        if matches!(state, None | Some("Z" | "X")) {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if !gone {
        crate::support::kill_browser(pid);
    }
    assert_eq!(d.code, 0, "{d:?}");
    assert!(!gone, "the browser closed once pretix-race exited: {d:?}");
    assert!(
        flags.iter().any(|f| f == "--remote-debugging-pipe")
            && !flags
                .iter()
                .any(|f| f.starts_with("--remote-debugging-port")),
        "the browser was started with {flags:?}"
    );
    assert!(
        kinds.iter().all(|k| k.starts_with("socket:[")),
        "the browser's DevTools descriptors are {kinds:?}, not sockets"
    );
    assert!(
        reopened.is_empty(),
        "another program could open {reopened:?}: {d:?}"
    );
    assert!(
        ports.is_empty(),
        "the browser still listens on {ports:?} after the hand-over: {d:?}"
    );
    assert!(files.is_empty(), "{files:?} names a DevTools port: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_left_open_has_no_devtools_endpoint() {
    no_door_after(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_early_browser_left_open_has_no_devtools_endpoint() {
    no_door_after(&["--browser-early"]).await;
}
