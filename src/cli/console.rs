//! Console output that outlives its terminal. `println!` and `eprintln!`
//! panic when a write fails, and every write fails once the terminal is
//! gone (EIO after a hang-up, EPIPE on a closed pipe); what `aifbench run`
//! prints must not end the run, so it goes through these instead. A failed
//! write is dropped: the results folder holds everything printed here.

use std::io::Write;

/// Writes `text` to stdout; false if it could not (terminal gone).
pub fn out(text: &str) -> bool {
    write_all(&mut std::io::stdout().lock(), text)
}

/// Writes `text` to stderr; false if it could not (terminal gone).
pub fn err(text: &str) -> bool {
    write_all(&mut std::io::stderr().lock(), text)
}

fn write_all(w: &mut impl Write, text: &str) -> bool {
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal that hung up.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(5)) // EIO
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(5))
        }
    }

    #[test]
    fn a_failed_write_is_reported_not_a_panic() {
        assert!(!write_all(&mut Gone, "requests 10\n"));
        let mut buf = Vec::new();
        assert!(write_all(&mut buf, "requests 10\n"));
        assert_eq!(buf, b"requests 10\n");
    }
}
