use crate::ctxt::Ctxt;
use crate::kw;
use syn::{Expr, Lit, UnOp};

// A duration literal of the attribute: `1`, `0.5` (seconds), `250ms`, `10s`,
// `2m`, `1h`. `500ms` reaches us as an integer literal with suffix `ms`, and
// `0.5s` as a float literal with suffix `s`.
pub(crate) struct DurationLit {
    pub(crate) nanos: u64,
    // The literal as written, for messages and spans.
    pub(crate) lit: Lit,
}

impl DurationLit {
    pub(crate) fn text(&self) -> String {
        quote::ToTokens::to_token_stream(&self.lit).to_string()
    }
}

const EXPECTED: &str = "expected a duration such as `500ms`, `10s`, `2m` or `0.5` (seconds)";

pub(crate) fn parse(cx: &Ctxt, expr: &Expr) -> Option<DurationLit> {
    let (digits, suffix, lit) = match expr {
        Expr::Lit(e) => match &e.lit {
            Lit::Int(i) => (i.base10_digits(), i.suffix(), &e.lit),
            Lit::Float(f) => (f.base10_digits(), f.suffix(), &e.lit),
            _ => {
                cx.error_spanned_by(expr, EXPECTED);
                return None;
            }
        },
        // Tokens passed through a `macro_rules!` arrive in invisible groups.
        Expr::Group(g) => return parse(cx, &g.expr),
        // -1s
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            cx.error_spanned_by(expr, "a duration cannot be negative");
            return None;
        }
        _ => {
            cx.error_spanned_by(expr, EXPECTED);
            return None;
        }
    };
    let unit = if suffix.is_empty() {
        1_000_000_000
    } else if let Some(&(_, nanos)) = kw::UNITS.iter().find(|&&(u, _)| u == suffix) {
        nanos
    } else {
        let units = kw::one_of(kw::UNITS.iter().map(|&(u, _)| u));
        let msg = kw::unknown("duration unit", suffix, unit_alias(suffix), &units);
        cx.error_spanned_by(lit, msg);
        return None;
    };
    if let Some(nanos) = decimal_nanos(digits, unit) {
        Some(DurationLit {
            nanos,
            lit: lit.clone(),
        })
    } else {
        cx.error_spanned_by(
            lit,
            "duration is too long: a `Duration` built from nanoseconds holds at most about 584 years",
        );
        None
    }
}

fn unit_alias(suffix: &str) -> Option<&'static str> {
    Some(match suffix {
        "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => "ms",
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "hr" | "hrs" | "hour" | "hours" => "h",
        _ => return None,
    })
}

// `digits` (decimal, as in `1.5e3`) times `unit` nanoseconds, rounded to the
// nearest nanosecond; `None` when it does not fit in a `u64`. Exact decimal
// arithmetic, so that `0.1` is 100_000_000 and not one off.
fn decimal_nanos(digits: &str, unit: u64) -> Option<u64> {
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(i) => (&digits[..i], digits[i + 1..].parse::<i64>().ok()?),
        None => (digits, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let scale = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
    let mut n: u128 = 0;
    for c in int.chars().chain(frac.chars()) {
        let d = c.to_digit(10)?;
        n = n.checked_mul(10)?.checked_add(u128::from(d))?;
    }
    n = n.checked_mul(u128::from(unit))?;
    if n == 0 {
        return Some(0);
    }
    if scale >= 0 {
        for _ in 0..scale {
            n = n.checked_mul(10)?;
            if n > u128::from(u64::MAX) {
                return None;
            }
        }
    } else if scale < -38 {
        n = 0;
    } else {
        let p = 10u128.pow(u32::try_from(-scale).ok()?);
        let (q, r) = (n / p, n % p);
        n = q + u128::from(r >= p - r);
    }
    u64::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::decimal_nanos;

    const S: u64 = 1_000_000_000;

    #[test]
    fn decimals() {
        assert_eq!(decimal_nanos("1", S), Some(S));
        assert_eq!(decimal_nanos("0.5", S), Some(S / 2));
        assert_eq!(decimal_nanos("0.1", S), Some(100_000_000));
        assert_eq!(decimal_nanos("250", 1_000_000), Some(250_000_000));
        assert_eq!(decimal_nanos("1.5e1", S), Some(15 * S));
        assert_eq!(decimal_nanos("15e-1", S), Some(1_500_000_000));
        assert_eq!(decimal_nanos("2.", S), Some(2 * S));
        assert_eq!(decimal_nanos("0", S), Some(0));
        assert_eq!(decimal_nanos("0.0000000005", S), Some(1));
        assert_eq!(decimal_nanos("0.0000000004", S), Some(0));
        assert_eq!(decimal_nanos("1e-400", S), Some(0));
        assert_eq!(decimal_nanos("18446744073", S), Some(18_446_744_073 * S));
        assert_eq!(decimal_nanos("18446744074", S), None);
        assert_eq!(decimal_nanos("1e30", S), None);
        assert_eq!(decimal_nanos("1e99999999999999999999", S), None);
        assert_eq!(
            decimal_nanos("340282366920938463463374607431768211456", S),
            None
        );
    }
}
