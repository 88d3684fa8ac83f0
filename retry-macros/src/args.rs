// The attribute's arguments, parsed into one typed slot per key.
//
// Nothing here returns early on a bad argument: each error goes to the
// `Ctxt` and parsing goes on with the next argument, so that one compile shows
// every mistake of the attribute. Checks that need more than one key live in
// `valid.rs`.

use crate::ctxt::Ctxt;
use crate::duration::{self, DurationLit};
use crate::kw;
use crate::wait::WaitSpec;
use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, Path, Token};

// A key as written and its parsed value; the key's span is where errors about
// the argument as a whole go.
pub(crate) struct Arg<T> {
    pub(crate) key: Ident,
    pub(crate) value: T,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Jitter {
    Full,
    Equal,
    None,
}

// One entry of `on = [...]`: `RateLimit` or `Timeout(max_attempts = 2)`. The
// name is one of `kw::CLASSES`.
pub(crate) struct OnClass {
    pub(crate) name: Ident,
    pub(crate) max_attempts: Option<u32>,
}

pub(crate) struct RetryArgs {
    pub(crate) max_attempts: Option<Arg<u32>>,
    pub(crate) wait: Option<Arg<WaitSpec>>,
    pub(crate) jitter: Option<Arg<Jitter>>,
    pub(crate) on: Option<Arg<Vec<OnClass>>>,
    pub(crate) deadline: Option<Arg<DurationLit>>,
    pub(crate) attempt_timeout: Option<Arg<DurationLit>>,
    pub(crate) max_retry_after: Option<Arg<DurationLit>>,
    // Evaluated per call in the function's scope; anything that derefs to a
    // `CircuitBreaker` / `RetryBudget` / `AdmissionGate`.
    pub(crate) circuit_breaker: Option<Arg<Expr>>,
    pub(crate) budget: Option<Arg<Expr>>,
    pub(crate) admission: Option<Arg<Expr>>,
    // Evaluated once per call, in the function's scope: what the gate charges.
    pub(crate) expected_tokens: Option<Arg<Expr>>,
    pub(crate) fallback: Option<Arg<Path>>,
    pub(crate) fallback_on: Option<Arg<Vec<Ident>>>,
    pub(crate) krate: Option<Arg<Path>>,
}

// The one place that detects a repeated key; it reports at the repeat. The
// key is recorded even when its value was bad, so that a repeat of a bad
// argument is still reported as one.
struct Slot<T> {
    key: Option<Ident>,
    value: Option<T>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            key: None,
            value: None,
        }
    }

    fn set(&mut self, cx: &Ctxt, key: Ident, value: Option<T>) {
        if self.key.is_some() {
            cx.error_at(key.span(), format!("duplicate key `{key}`"));
            return;
        }
        self.key = Some(key);
        self.value = value;
    }

    fn get(self) -> Option<Arg<T>> {
        Some(Arg {
            key: self.key?,
            value: self.value?,
        })
    }
}

struct Slots {
    max_attempts: Slot<u32>,
    wait: Slot<WaitSpec>,
    jitter: Slot<Jitter>,
    on: Slot<Vec<OnClass>>,
    deadline: Slot<DurationLit>,
    attempt_timeout: Slot<DurationLit>,
    max_retry_after: Slot<DurationLit>,
    circuit_breaker: Slot<Expr>,
    budget: Slot<Expr>,
    admission: Slot<Expr>,
    expected_tokens: Slot<Expr>,
    fallback: Slot<Path>,
    fallback_on: Slot<Vec<Ident>>,
    krate: Slot<Path>,
}

impl RetryArgs {
    pub(crate) fn from_tokens(cx: &Ctxt, tokens: TokenStream) -> RetryArgs {
        let mut slots = Slots {
            max_attempts: Slot::new(),
            wait: Slot::new(),
            jitter: Slot::new(),
            on: Slot::new(),
            deadline: Slot::new(),
            attempt_timeout: Slot::new(),
            max_retry_after: Slot::new(),
            circuit_breaker: Slot::new(),
            budget: Slot::new(),
            admission: Slot::new(),
            expected_tokens: Slot::new(),
            fallback: Slot::new(),
            fallback_on: Slot::new(),
            krate: Slot::new(),
        };
        for segment in split_arguments(tokens) {
            match segment {
                Segment::Empty(comma) => cx.error_at(comma, "expected an argument before `,`"),
                Segment::Argument(tokens) => {
                    let parser = |input: ParseStream| parse_argument(cx, &mut slots, input);
                    if let Err(err) = parser.parse2(tokens) {
                        cx.syn_error(err);
                    }
                }
            }
        }
        RetryArgs {
            max_attempts: slots.max_attempts.get(),
            wait: slots.wait.get(),
            jitter: slots.jitter.get(),
            on: slots.on.get(),
            deadline: slots.deadline.get(),
            attempt_timeout: slots.attempt_timeout.get(),
            max_retry_after: slots.max_retry_after.get(),
            circuit_breaker: slots.circuit_breaker.get(),
            budget: slots.budget.get(),
            admission: slots.admission.get(),
            expected_tokens: slots.expected_tokens.get(),
            fallback: slots.fallback.get(),
            fallback_on: slots.fallback_on.get(),
            krate: slots.krate.get(),
        }
    }

    // Where `deadline`/`attempt_timeout` ask for a timed attempt: the key that
    // makes the error type need `From<Elapsed>`.
    pub(crate) fn timeout_key(&self) -> Option<&Ident> {
        self.attempt_timeout
            .as_ref()
            .or(self.deadline.as_ref())
            .map(|arg| &arg.key)
    }
}

enum Segment {
    Argument(TokenStream),
    // `,,` or a leading `,`: the span of the comma.
    Empty(Span),
}

// Arguments are separated by top-level commas (commas inside `(..)` and
// `[..]` are inside groups), so one bad argument never hides the next one.
fn split_arguments(tokens: TokenStream) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut current = TokenStream::new();
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    segments.push(Segment::Empty(p.span()));
                } else {
                    segments.push(Segment::Argument(std::mem::take(&mut current)));
                }
            }
            _ => current.extend([tt]),
        }
    }
    if !current.is_empty() {
        segments.push(Segment::Argument(current));
    }
    segments
}

fn skip_rest(input: ParseStream) {
    let _ = input.parse::<TokenStream>();
}

fn parse_argument(cx: &Ctxt, slots: &mut Slots, input: ParseStream) -> syn::Result<()> {
    let Ok(key) = input.call(Ident::parse_any) else {
        let err = input.error("expected an argument such as `max_attempts = 5`");
        skip_rest(input);
        return Err(err);
    };
    let name = key.to_string();
    let Some(&(_, example)) = kw::KEYS.iter().find(|&&(k, _)| k == name) else {
        let keys = || kw::KEYS.iter().map(|&(k, _)| k);
        let expected = format!("one of {}", kw::one_of(keys()));
        cx.error_at(
            key.span(),
            kw::unknown("key", &name, kw::did_you_mean(&name, keys()), &expected),
        );
        skip_rest(input);
        return Ok(());
    };
    if input.is_empty() {
        cx.error_at(
            key.span(),
            format!("`{name}` needs a value, as in `{example}`"),
        );
        return Ok(());
    }
    if !input.peek(Token![=]) {
        let err = input.error(format!("expected `=`, as in `{example}`"));
        skip_rest(input);
        return Err(err);
    }
    input.parse::<Token![=]>()?;

    if name == kw::CRATE {
        // crate = ::my_reexport::retry_runtime
        let path: Path = input.parse()?;
        let value = if path.segments.iter().all(|s| s.arguments.is_none()) {
            Some(path)
        } else {
            cx.error_spanned_by(&path, "expected a path to the runtime crate, as in `crate = ::my_reexport::retry_runtime`");
            None
        };
        slots.krate.set(cx, key, value);
        return expect_end(input);
    }

    let expr: Expr = input.parse()?;
    expect_end(input)?;
    match name.as_str() {
        // max_attempts = 5
        kw::MAX_ATTEMPTS => slots.max_attempts.set(cx, key, count(cx, &expr)),
        // wait = exponential(500ms, 8s)
        kw::WAIT => slots.wait.set(cx, key, WaitSpec::parse(cx, &expr)),
        // jitter = full
        kw::JITTER => slots.jitter.set(cx, key, jitter(cx, &expr)),
        // on = [RateLimit, Timeout(max_attempts = 2)]
        kw::ON => slots.on.set(cx, key, on(cx, &expr)),
        // deadline = 10s
        kw::DEADLINE => slots
            .deadline
            .set(cx, key, positive_duration(cx, &name, &expr)),
        // attempt_timeout = 30s
        kw::ATTEMPT_TIMEOUT => {
            let value = positive_duration(cx, &name, &expr);
            slots.attempt_timeout.set(cx, key, value);
        }
        // max_retry_after = 120s
        kw::MAX_RETRY_AFTER => slots
            .max_retry_after
            .set(cx, key, duration::parse(cx, &expr)),
        // circuit_breaker = OPENAI_BREAKER
        kw::CIRCUIT_BREAKER => slots.circuit_breaker.set(cx, key, Some(expr)),
        // budget = BUDGETS.for_key(&user_id)
        kw::BUDGET => slots.budget.set(cx, key, Some(expr)),
        // admission = OPENAI_GATE, admission = PER_MODEL.for_key(model)
        kw::ADMISSION => slots.admission.set(cx, key, Some(expr)),
        // expected_tokens = prompt.len() / 4 + 512
        kw::EXPECTED_TOKENS => slots.expected_tokens.set(cx, key, Some(expr)),
        // fallback = ask_claude, fallback = Self::ask_claude
        kw::FALLBACK => slots.fallback.set(cx, key, fallback(cx, &expr)),
        // fallback_on = [Overloaded, Server]
        kw::FALLBACK_ON => slots.fallback_on.set(cx, key, fallback_on(cx, &expr)),
        _ => cx.error_at(key.span(), format!("`{name}` is not handled")),
    }
    Ok(())
}

fn expect_end(input: ParseStream) -> syn::Result<()> {
    if input.is_empty() {
        Ok(())
    } else {
        let err = input.error("expected `,`");
        skip_rest(input);
        Err(err)
    }
}

fn single_ident(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => p.path.get_ident(),
        Expr::Group(g) => single_ident(&g.expr),
        _ => None,
    }
}

fn unwrap_group(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(g) => unwrap_group(&g.expr),
        _ => expr,
    }
}

// An attempt count: an integer literal in 1..=100.
fn count(cx: &Ctxt, expr: &Expr) -> Option<u32> {
    let lit = match unwrap_group(expr) {
        Expr::Lit(e) => match &e.lit {
            Lit::Int(i) if i.suffix().is_empty() => Some(i),
            _ => None,
        },
        _ => None,
    };
    let Some(lit) = lit else {
        cx.error_spanned_by(
            expr,
            "expected an integer between 1 and 100, as in `max_attempts = 5`",
        );
        return None;
    };
    match lit.base10_parse::<u64>() {
        Ok(0) => {
            cx.error_spanned_by(lit, "`max_attempts` must be at least 1: it counts every attempt, the first one included");
            None
        }
        Ok(n @ 1..=100) => u32::try_from(n).ok(),
        _ => {
            cx.error_spanned_by(lit, "`max_attempts` must be at most 100");
            None
        }
    }
}

fn jitter(cx: &Ctxt, expr: &Expr) -> Option<Jitter> {
    let name = single_ident(expr).map(Ident::to_string);
    match name.as_deref() {
        Some(kw::FULL) => Some(Jitter::Full),
        Some(kw::EQUAL) => Some(Jitter::Equal),
        Some(kw::NONE) => Some(Jitter::None),
        Some(other) => {
            let jitters = kw::JITTERS.iter().copied();
            let msg = kw::unknown(
                "jitter",
                other,
                kw::did_you_mean(other, jitters.clone()),
                &kw::one_of(jitters),
            );
            cx.error_spanned_by(expr, msg);
            None
        }
        None => {
            cx.error_spanned_by(
                expr,
                format!("expected {}", kw::one_of(kw::JITTERS.iter().copied())),
            );
            None
        }
    }
}

fn positive_duration(cx: &Ctxt, key: &str, expr: &Expr) -> Option<DurationLit> {
    let d = duration::parse(cx, expr)?;
    if d.nanos == 0 {
        cx.error_spanned_by(&d.lit, format!("`{key}` must be longer than zero"));
        return None;
    }
    Some(d)
}

// on = [RateLimit, Timeout(max_attempts = 2)]
fn on(cx: &Ctxt, expr: &Expr) -> Option<Vec<OnClass>> {
    let Expr::Array(array) = unwrap_group(expr) else {
        cx.error_spanned_by(
            expr,
            "expected a list of error classes, as in `on = [RateLimit, Timeout]`",
        );
        return None;
    };
    if array.elems.is_empty() {
        cx.error_spanned_by(expr, "`on = []` retries nothing; name at least one error class, as in `on = [RateLimit, Timeout]`");
        return None;
    }
    let mut classes: Vec<OnClass> = Vec::new();
    let mut ok = true;
    for elem in &array.elems {
        let Some(class) = on_class(cx, elem) else {
            ok = false;
            continue;
        };
        if classes.iter().any(|c| c.name == class.name) {
            cx.error_at(
                class.name.span(),
                format!("duplicate error class `{}`", class.name),
            );
            ok = false;
            continue;
        }
        classes.push(class);
    }
    ok.then_some(classes)
}

fn on_class(cx: &Ctxt, elem: &Expr) -> Option<OnClass> {
    const EXPECTED: &str =
        "expected an error class, as in `RateLimit` or `Timeout(max_attempts = 2)`";
    let (name, cap) = match unwrap_group(elem) {
        // RateLimit
        Expr::Path(_) => (single_ident(elem), None),
        // Timeout(max_attempts = 2)
        Expr::Call(call) => (single_ident(&call.func), Some(call)),
        _ => (None, None),
    };
    let Some(name) = name else {
        cx.error_spanned_by(elem, EXPECTED);
        return None;
    };
    let text = name.to_string();
    if !kw::CLASSES.contains(&text.as_str()) {
        let msg = if let Some(&(_, why)) = kw::NEVER_RETRIED.iter().find(|&&(c, _)| c == text) {
            format!("`{text}` errors are never retried: {why}")
        } else {
            let classes = kw::CLASSES.iter().copied();
            let expected = format!("one of {}", kw::one_of(classes.clone()));
            kw::unknown(
                "error class",
                &text,
                kw::did_you_mean(&text, classes),
                &expected,
            )
        };
        cx.error_at(name.span(), msg);
        return None;
    }
    let max_attempts = match cap {
        None => None,
        Some(call) => {
            let assign = match call.args.first().map(unwrap_group) {
                Some(Expr::Assign(assign)) if call.args.len() == 1 => Some(assign),
                _ => None,
            };
            let key = assign
                .and_then(|a| single_ident(&a.left))
                .map(Ident::to_string);
            if let (Some(assign), Some(kw::MAX_ATTEMPTS)) = (assign, key.as_deref()) {
                Some(count(cx, &assign.right)?)
            } else {
                let msg = format!("expected `max_attempts = N`, as in `{text}(max_attempts = 2)`");
                if call.args.is_empty() {
                    cx.error_spanned_by(elem, msg);
                } else {
                    cx.error_spanned_by(&call.args, msg);
                }
                return None;
            }
        }
    };
    Some(OnClass {
        name: name.clone(),
        max_attempts,
    })
}

// fallback = ask_claude: a path to a function with the same parameters and
// return type.
fn fallback(cx: &Ctxt, expr: &Expr) -> Option<Path> {
    match unwrap_group(expr) {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Some(p.path.clone()),
        _ => {
            cx.error_spanned_by(
                expr,
                "expected a path to a function with the same parameters and return type, as in `fallback = ask_claude` or `fallback = Self::ask_claude`",
            );
            None
        }
    }
}

// fallback_on = [Overloaded, Server, Client]: every class may be named here,
// the never-retried ones included.
fn fallback_on(cx: &Ctxt, expr: &Expr) -> Option<Vec<Ident>> {
    let Expr::Array(array) = unwrap_group(expr) else {
        cx.error_spanned_by(
            expr,
            "expected a list of error classes, as in `fallback_on = [Overloaded, Server]`",
        );
        return None;
    };
    let mut classes: Vec<Ident> = Vec::new();
    let mut ok = true;
    for elem in &array.elems {
        let Some(name) = single_ident(elem) else {
            cx.error_spanned_by(elem, "expected an error class, as in `Overloaded`");
            ok = false;
            continue;
        };
        let text = name.to_string();
        if !kw::ALL_CLASSES.contains(&text.as_str()) {
            let classes = kw::ALL_CLASSES.iter().copied();
            let expected = format!("one of {}", kw::one_of(classes.clone()));
            let msg = kw::unknown(
                "error class",
                &text,
                kw::did_you_mean(&text, classes),
                &expected,
            );
            cx.error_at(name.span(), msg);
            ok = false;
            continue;
        }
        if classes.iter().any(|c| c == name) {
            cx.error_at(name.span(), format!("duplicate error class `{name}`"));
            ok = false;
            continue;
        }
        classes.push(name.clone());
    }
    ok.then_some(classes)
}
