//! Shell quoting for the parts of a batch script a shell reads: every
//! value goes through [`shell_quote`], and names exported into the
//! environment must be identifiers ([`is_identifier`]).

/// Quotes `s` for a POSIX shell: the result is one word with exactly the
/// bytes of `s`. Plain words stay unquoted for readability.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',' | b'+' | b'@' | b'%'
                )
        })
        && !s.starts_with('=');
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quotes every word and joins them with spaces.
pub fn shell_join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `k` is a shell identifier (a valid environment variable name).
pub(super) fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh runs");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    #[test]
    fn quoting_survives_nasty_inputs() {
        let nasty = [
            "plain",
            "",
            "two words",
            "it's",
            "'",
            "''",
            "\"double\"",
            "$HOME",
            "${x:-y}",
            "`id`",
            "$(id)",
            "a;b&&c||d|e",
            "new\nline",
            "tab\there",
            "back\\slash",
            "*?[glob]",
            "~user",
            "-n",
            "=x",
            "#comment",
            "ünïcødé ✓",
            "!bang",
        ];
        for n in nasty {
            let got = sh(&format!("printf '%s' {}", shell_quote(n)));
            assert_eq!(got, n, "quoting {n:?} as {}", shell_quote(n));
        }
        let joined = shell_join(&nasty);
        let got = sh(&format!("for a in {joined}; do printf '[%s]' \"$a\"; done"));
        let want: String = nasty.iter().map(|n| format!("[{n}]")).collect();
        assert_eq!(got, want);
    }
}
