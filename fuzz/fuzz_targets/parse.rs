//! Any byte string: the parser either rejects it with an error or returns a
//! tree whose dump and typed commands can be computed. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mybuild_frontend::instructions::Command;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(df) = mybuild_frontend::parse(text) else {
        return;
    };
    let dump = mybuild_frontend::dump(&df);
    assert!(dump.ends_with('\n'), "a dump ends with a newline");
    for node in &df.instructions {
        assert!(node.start_line <= node.end_line, "lines of {node:?}");
        let _ = Command::from_node(node);
    }
});
