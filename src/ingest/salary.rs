//! Salary text ("$122,600 - $204,400 / year", "EUR 40k per month") read into [`Salary`].

use crate::domain::Salary;

/// Reads a free-text salary. `None` when the text has no amount ("negotiable").
pub fn parse_salary(raw: &str) -> Option<Salary> {
    let amounts = amounts(raw);
    let min = *amounts.first()?;
    let max = amounts.get(1).copied().filter(|m| *m >= min);
    Some(Salary {
        min: Some(min),
        max: max.or(Some(min)),
        currency: currency(raw),
        period: period(raw),
    })
}

/// Maps period words ("yearly", "per hour", "annum", "monthly") to schema.org unitText.
pub fn period(raw: &str) -> Option<String> {
    let lower = raw.to_lowercase();
    [
        ("hour", "HOUR"),
        ("/hr", "HOUR"),
        ("day", "DAY"),
        ("daily", "DAY"),
        ("week", "WEEK"),
        ("month", "MONTH"),
        ("year", "YEAR"),
        ("annum", "YEAR"),
        ("annual", "YEAR"),
        ("/yr", "YEAR"),
    ]
    .iter()
    .find(|(word, _)| lower.contains(word))
    .map(|(_, unit)| (*unit).to_owned())
}

fn currency(raw: &str) -> Option<String> {
    let symbol = [
        ('$', "USD"),
        ('€', "EUR"),
        ('£', "GBP"),
        ('¥', "JPY"),
        ('₹', "INR"),
    ]
    .iter()
    .find(|(c, _)| raw.contains(*c))
    .map(|(_, code)| (*code).to_owned());
    symbol.or_else(|| {
        raw.split(|c: char| !c.is_ascii_alphabetic())
            .find(|w| {
                w.len() == 3
                    && w.chars().all(|c| c.is_ascii_uppercase())
                    && [
                        "USD", "EUR", "GBP", "CAD", "AUD", "CHF", "INR", "JPY", "SEK", "PLN",
                    ]
                    .contains(w)
            })
            .map(str::to_owned)
    })
}

/// Numbers in the text, with thousands separators removed and a `k` suffix applied.
fn amounts(raw: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    while i < chars.len() && out.len() < 2 {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut num = String::new();
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == ',' || chars[i] == '.') {
            if chars[i] != ',' {
                num.push(chars[i]);
            }
            i += 1;
        }
        let Ok(mut value) = num.trim_end_matches('.').parse::<f64>() else {
            continue;
        };
        if chars.get(i).is_some_and(|c| *c == 'k' || *c == 'K') {
            value *= 1000.0;
        }
        if value.is_finite() && value > 0.0 {
            out.push(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_with_symbols_and_periods_are_read() {
        let s = parse_salary("$122,600 - $204,400 / year").unwrap_or_default();
        assert_eq!((s.min, s.max), (Some(122_600.0), Some(204_400.0)));
        assert_eq!(s.currency.as_deref(), Some("USD"));
        assert_eq!(s.period.as_deref(), Some("YEAR"));
    }

    #[test]
    fn k_suffix_and_currency_codes_are_understood() {
        let s = parse_salary("EUR 40k-55k per month").unwrap_or_default();
        assert_eq!((s.min, s.max), (Some(40_000.0), Some(55_000.0)));
        assert_eq!(s.currency.as_deref(), Some("EUR"));
        assert_eq!(s.period.as_deref(), Some("MONTH"));
    }

    #[test]
    fn text_without_amounts_is_no_salary() {
        assert_eq!(parse_salary("Negotiable"), None);
    }
}
