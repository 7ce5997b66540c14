//! "Did you mean ...?": the nearest known name to a misspelled one, by
//! edit distance (pure).

/// Edit distance between two strings (optimal string alignment: insert,
/// delete, substitute, or swap two neighbours, each one step), by
/// characters, ignoring ASCII case.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = best;
        }
    }
    d[a.len() * w + b.len()]
}

/// The known name nearest to `given`, if it is close enough to be a typo:
/// at most a third of the longer name's length away (at least 1, at most 4),
/// or differing only in `_`/`-` and case (`max_tokens` for `maxTokens`).
pub fn nearest<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let g = squash(given);
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = if squash(k) == g {
            0
        } else {
            edit_distance(given, k)
        };
        let limit = (given.chars().count().max(k.chars().count()) / 3).clamp(1, 4);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// `"; did you mean `x`?"`, or nothing.
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    nearest(given, known)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("concurency", "concurrency"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("prot", "port"), 1);
    }

    #[test]
    fn nearest_names_typos_only() {
        let known = ["concurrency", "rate", "arrival", "maxRequests", "stages"];
        assert_eq!(nearest("concurency", known), Some("concurrency"));
        assert_eq!(nearest("max_requests", known), Some("maxRequests"));
        assert_eq!(nearest("rat", known), Some("rate"));
        assert_eq!(nearest("colour", known), None);
        assert_eq!(nearest("x", known), None);
        assert_eq!(
            did_you_mean("maxTokns", ["maxTokens", "model"]),
            "; did you mean `maxTokens`?"
        );
        assert_eq!(did_you_mean("zzz", ["maxTokens"]), "");
    }
}
