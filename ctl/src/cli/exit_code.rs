//! serctl's exit codes, in one place (stated in `serctl --help`).

/// Success.
pub const OK: u8 = 0;
/// `analyze`: at least one input could not be analysed (the others were).
pub const SOME_INPUTS_FAILED: u8 = 1;
/// Usage error, or any other error.
pub const ERROR: u8 = 2;
/// The daemon is not reachable (not running, or not ours).
pub const DAEMON_UNREACHABLE: u8 = 3;
/// The daemon replied with an error.
pub const DAEMON_ERROR: u8 = 4;

/// The table as shown at the end of `serctl --help`.
pub const TABLE: &str = "\
EXIT STATUS:
  0  success
  1  analyze: some inputs could not be analysed (the others were)
  2  usage error, or another error
  3  serd is not reachable (not running, or the socket is not yours)
  4  serd replied with an error";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_states_every_code() {
        for (code, words) in [
            (OK, "success"),
            (SOME_INPUTS_FAILED, "analyze"),
            (ERROR, "usage"),
            (DAEMON_UNREACHABLE, "not reachable"),
            (DAEMON_ERROR, "replied with an error"),
        ] {
            let line = TABLE
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{code} ")))
                .unwrap_or_else(|| panic!("no line for {code}"));
            assert!(line.contains(words), "{line}");
        }
    }
}
