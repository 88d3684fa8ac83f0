use crate::ctxt::Ctxt;
use crate::duration::{self, DurationLit};
use crate::kw;
use syn::{Expr, Ident};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitKind {
    Fixed,
    Exponential,
    Linear,
    Decorrelated,
}

// `wait = exponential(1, 60)`: the function, as written, and its durations
// (one for `fixed`, two for the others).
pub(crate) struct WaitSpec {
    pub(crate) kind: WaitKind,
    pub(crate) name: Ident,
    pub(crate) args: Vec<DurationLit>,
}

impl WaitKind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            kw::FIXED => WaitKind::Fixed,
            kw::EXPONENTIAL => WaitKind::Exponential,
            kw::LINEAR => WaitKind::Linear,
            kw::DECORRELATED => WaitKind::Decorrelated,
            _ => return None,
        })
    }

    // How the function is called, as in `exponential(min, max)`.
    pub(crate) fn usage(self) -> &'static str {
        let name = match self {
            WaitKind::Fixed => kw::FIXED,
            WaitKind::Exponential => kw::EXPONENTIAL,
            WaitKind::Linear => kw::LINEAR,
            WaitKind::Decorrelated => kw::DECORRELATED,
        };
        kw::WAITS
            .iter()
            .find(|&&(n, _)| n == name)
            .map_or(name, |&(_, usage)| usage)
    }

    fn arity(self) -> usize {
        match self {
            WaitKind::Fixed => 1,
            WaitKind::Exponential | WaitKind::Linear | WaitKind::Decorrelated => 2,
        }
    }
}

fn expected_functions() -> String {
    kw::one_of(kw::WAITS.iter().map(|&(_, usage)| usage))
}

fn single_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        _ => None,
    }
}

impl WaitSpec {
    pub(crate) fn parse(cx: &Ctxt, expr: &Expr) -> Option<WaitSpec> {
        let (name, args) = match expr {
            // exponential(500ms, 8s)
            Expr::Call(call) => {
                let Some(name) = single_ident(&call.func) else {
                    let msg = format!("expected one of {}", expected_functions());
                    cx.error_spanned_by(&call.func, msg);
                    return None;
                };
                (name, Some(&call.args))
            }
            // exponential, without its arguments
            Expr::Path(_) if single_ident(expr).is_some() => (single_ident(expr)?, None),
            Expr::Group(g) => return WaitSpec::parse(cx, &g.expr),
            _ => {
                let msg = format!("expected a wait function: {}", expected_functions());
                cx.error_spanned_by(expr, msg);
                return None;
            }
        };
        let text = name.to_string();
        let Some(kind) = WaitKind::from_name(&text) else {
            let names = kw::WAITS.iter().map(|&(n, _)| n);
            let msg = kw::unknown(
                "wait function",
                &text,
                kw::did_you_mean(&text, names),
                &expected_functions(),
            );
            cx.error_at(name.span(), msg);
            return None;
        };
        let takes = match kind.arity() {
            1 => "1 duration",
            _ => "2 durations",
        };
        let Some(args) = args.filter(|args| args.len() == kind.arity()) else {
            cx.error_spanned_by(expr, format!("`{text}` takes {takes}: `{}`", kind.usage()));
            return None;
        };
        let parsed: Vec<Option<DurationLit>> =
            args.iter().map(|arg| duration::parse(cx, arg)).collect();
        Some(WaitSpec {
            kind,
            name: name.clone(),
            args: parsed.into_iter().collect::<Option<Vec<_>>>()?,
        })
    }

    // The lower bound and the upper one, for the waits that have both:
    // `exponential(min, max)`, `decorrelated(min, max)`, `linear(step, max)`.
    pub(crate) fn bounds(&self) -> Option<(&'static str, &DurationLit, &DurationLit)> {
        let lower = match self.kind {
            WaitKind::Fixed => return None,
            WaitKind::Exponential | WaitKind::Decorrelated => "minimum",
            WaitKind::Linear => "step",
        };
        match self.args.as_slice() {
            [a, b] => Some((lower, a, b)),
            _ => None,
        }
    }
}
