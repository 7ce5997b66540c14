//! `${VAR}` expansion in Benchmark files: `${VAR}`, `${VAR:-default}` (the
//! default may itself hold `${...}` references, expanded only when used, and
//! balanced `{...}`), and `$$` for a literal `$`. Pure: the environment is a
//! lookup function.

/// Expands `${VAR}`, `${VAR:-default}` and `$$` in one string. Values taken
/// from the environment are not expanded again.
pub fn expand_vars(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut missing = Vec::new();
    let out = expand_into(s, s, env, &mut missing)?;
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "environment variable(s) {} not set (referenced in {s:?}); set them, or give a default as ${{NAME:-default}}",
            missing.join(", ")
        ))
    }
}

fn expand_into(
    text: &str,
    whole: &str,
    env: &dyn Fn(&str) -> Option<String>,
    missing: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| {
                format!("unterminated ${{...}} in {whole:?}; write $$ for a literal $")
            })?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid variable name {name:?} in {whole:?}; names use letters, digits and _"
                ));
            }
            match (env(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(d)) => out.push_str(&expand_into(d, whole, env, missing)?),
                (None, None) => missing.push(name.to_string()),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The byte offset of the `}` that closes a `${` whose body starts `body`:
/// the first `}` outside nested `{...}` (and `$$`, which is no opener).
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            "LITERAL" => Some("${HOME}".into()),
            _ => None,
        }
    }

    #[test]
    fn nested_defaults_expand() {
        assert_eq!(
            expand_vars("${NOPE:-/p/${ACCT:-p2}/hf}", &env).unwrap(),
            "/p/p2/hf"
        );
        assert_eq!(
            expand_vars("${NOPE:-${HOME}/x}", &env).unwrap(),
            "/home/u/x"
        );
        assert_eq!(expand_vars("${HOME:-${UNSET}}", &env).unwrap(), "/home/u");
        assert_eq!(
            expand_vars("${NOPE:-${NOPE2:-${HOME}}}!", &env).unwrap(),
            "/home/u!"
        );
        // An unused default's unset variables are no error; a used one's are.
        let e = expand_vars("${NOPE:-${UNSET}}", &env).unwrap_err();
        assert!(e.contains("UNSET"), "{e}");
        // Values from the environment are not expanded again.
        assert_eq!(expand_vars("${LITERAL}", &env).unwrap(), "${HOME}");
    }

    #[test]
    fn braces_in_defaults_balance_or_are_refused() {
        assert_eq!(
            expand_vars(r#"${NOPE:-{"k": 1}}"#, &env).unwrap(),
            r#"{"k": 1}"#
        );
        assert_eq!(expand_vars("${NOPE:-a$$}b", &env).unwrap(), "a$b");
        let e = expand_vars("${NOPE:-{x}", &env).unwrap_err();
        assert!(e.contains("unterminated"), "{e}");
        let e = expand_vars("${NOPE:-${A}", &env).unwrap_err();
        assert!(e.contains("unterminated"), "{e}");
    }
}
