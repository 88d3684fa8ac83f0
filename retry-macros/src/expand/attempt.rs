// The function itself: the policy, the type checks, and the loop that runs
// one attempt per turn and asks the runtime what to do with its outcome.
//
// Input:
//     #[retry(max_attempts = 5)]
//     async fn fetch(client: &Client, id: Id) -> Result<T, E> { body }
//
// Output (paths abridged: `Call` is `::retry_runtime::__private::Call`, ...):
//     #[allow(clippy::needless_pass_by_value)]   // when an argument is cloned
//     async fn fetch(client: &Client, id: Id) -> Result<T, E> {
//         static __RETRY_POLICY: RetryPolicy = ..;              // see `policy.rs`
//         static __RETRY_COUNTERS: Counters = Counters::new();
//         check_return::<Result<T, E>>();
//         check_timeout_capable::<Result<T, E>>();              // with `attempt_timeout`/`deadline`
//         let mut __retry_call = Call::new(&__RETRY_POLICY, &__RETRY_COUNTERS);
//         loop {
//             let __retry_clone1 = Clone::clone(&id);           // see `params.rs`
//             let __retry_outcome = Call::run_async(&mut __retry_call, async {
//                 #[allow(unreachable_code, ..)]
//                 if false {
//                     let __retry_fake_return: Result<T, E> = loop {};
//                     return __retry_fake_return;
//                 }
//                 let id = __retry_clone1;
//                 { body }
//             }).await;                                         // `run_async_timed` when timed
//             match Call::decide(&mut __retry_call, __retry_outcome) {
//                 Step::Return(__retry_r) => return __retry_r,
//                 Step::Wait(__retry_d) => Call::sleep_async(&mut __retry_call, __retry_d).await,
//             }
//         }
//     }
//
// A sync fn has the same loop: it runs the attempt as
// `Call::run(&mut __retry_call, || { .. })` and sleeps with `sleep(d)`.
// Running the body inside a closure (or async block) is what makes
// a `?` or `return` in it end the attempt, not the call; the fake return edge
// gives the closure the declared return type, so that `?` converts errors
// into it and a mismatch is blamed on the signature (tracing's
// `#[instrument]` does the same).

use super::params::{self, Rebinds};
use super::policy::{counters_ident, policy_ident, policy_static};
use super::self_rename::rename_self;
use super::Runtime;
use crate::args::RetryArgs;
use crate::item::{self, Body, RetryFn};
use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{ReturnType, Type};

pub(super) fn expand(args: &RetryArgs, func: RetryFn, rt: &Runtime) -> TokenStream {
    let RetryFn {
        attrs,
        vis,
        mut sig,
        mut body,
    } = func;
    let Rebinds {
        before,
        inside,
        rename_self: must_rename,
        owned,
        forward,
    } = params::rewrite(&mut sig, rt, args.fallback.is_some());
    if must_rename {
        rename_self(&mut body);
    }
    let body = match &body {
        Body::Parsed(block) => block.to_token_stream(),
        Body::Verbatim(tokens) => tokens.clone(),
    };
    // The attempt runs the body's statements, not the body as a block: a block that is only an
    // expression, as the tail of the attempt, is what `unused_braces` warns about.
    let statements = block_contents(&body);
    let ret: &Type = match &sig.output {
        ReturnType::Type(_, ty) => ty,
        // Rejected by validation; emit the function as it was.
        ReturnType::Default => return quote!(#(#attrs)* #vis #sig #body),
    };
    let is_async = sig.asyncness.is_some();
    let timeout_key = if is_async { args.timeout_key() } else { None };
    let policy = policy_static(args, &sig.ident, rt);
    let calls = CallUses::new(rt, ret, timeout_key);
    let check_return = &calls.check_return;

    let fake_return = calls.nameable.then(|| {
        quote_spanned! {ret.span()=>
            #[allow(
                unknown_lints,
                unreachable_code,
                clippy::diverging_sub_expression,
                clippy::empty_loop,
                clippy::let_unit_value,
                clippy::let_with_type_underscore,
                clippy::needless_return,
                clippy::unreachable
            )]
            if false {
                let __retry_fake_return: #ret = loop {};
                return __retry_fake_return;
            }
        }
    });
    // The body only borrows arguments taken by value (to clone them per
    // attempt), which that lint would blame on the user.
    let allow = owned.then(|| quote!(#[allow(clippy::needless_pass_by_value)]));
    let attempt = if is_async {
        quote_spanned!(body.span()=> async { #fake_return #inside #statements })
    } else {
        quote_spanned!(body.span()=> || { #fake_return #inside #statements })
    };

    let p = rt.private();
    let call = call_ident();
    let outcome = Ident::new("__retry_outcome", Span::mixed_site());
    let r = Ident::new("__retry_r", Span::mixed_site());
    let d = Ident::new("__retry_d", Span::mixed_site());
    let CallUses {
        check_timeout, new, ..
    } = &calls;
    let run = calls.run(is_async, &attempt);
    let shared = Shared::new(args, rt);
    let run = shared.guard(&calls, is_async, run);
    let decide = shared.decide(&calls, &outcome);
    let sleep = calls.sleep(is_async, &d);
    let on_return = shared.on_return(&calls, rt, is_async, &r, &forward);
    let shared_lets = &shared.lets;
    quote! {
        #(#attrs)*
        #allow
        #vis #sig {
            #policy
            #check_return
            #check_timeout
            #shared_lets
            let mut #call = #new;
            loop {
                #before
                let #outcome = #run;
                match #decide {
                    #p::Step::Return(#r) => #on_return,
                    #p::Step::Wait(#d) => #sleep,
                }
            }
        }
    }
}

// The shared state and fallback of a call, when the attribute names them.
//
// Input:
//     #[retry(admission = GATE, circuit_breaker = BREAKER, budget = BUDGETS.for_key(user),
//             fallback = backup)]
//
// Output (before the call starts; evaluated once per call, in the function's
// scope, borrowed so that a field or a guard works as well as a `static`; with
// `expected_tokens = EXPR`, its count too):
//     let __retry_gate = &(GATE);
//     let __retry_tokens = token_cost(EXPR);
//     let __retry_breaker = &(BREAKER);
//     let __retry_budget = &(BUDGETS.for_key(user));
//
// Output (the attempt, when there is a gate: it waits there for room, as long
// as the deadline allows, and the call gets its error built from `NotYet`
// otherwise; `pass_gate_async(..).await` in an async fn):
//     match Call::pass_gate(&mut __retry_call, as_gate(__retry_gate), __retry_tokens) {
//         Ok(__retry_admitted) => {
//             let __retry_outcome = <the attempt, behind the breaker if any>;
//             Call::leave_gate(&mut __retry_call, __retry_admitted, &__retry_outcome);
//             __retry_outcome
//         }
//         Err(__retry_not_admitted) => __retry_not_admitted,
//     }
//
// Output (the attempt, when there is a breaker: an open breaker refuses it,
// and the call gets its error built from `CircuitOpen`):
//     match Call::admit(&mut __retry_call, as_breaker(__retry_breaker)) {
//         Ok(__retry_permit) => {
//             let __retry_outcome = <the attempt>;
//             Call::settle(&mut __retry_call, __retry_permit, &__retry_outcome);
//             __retry_outcome
//         }
//         Err(__retry_refused) => __retry_refused,
//     }
//
// Output (the decision, with a budget):
//     Call::decide_budgeted(&mut __retry_call, __retry_outcome, as_budget(__retry_budget))
//
// Output (the return, with a fallback: the same arguments, forwarded):
//     Step::Return(__retry_r) => {
//         if Call::falls_back(&mut __retry_call, &__retry_r) {
//             return Call::fall_back(&mut __retry_call, || backup(client, prompt));
//         }
//         return __retry_r;
//     }
struct Shared<'a> {
    lets: TokenStream,
    gate: Option<(Use, Ident)>,
    /// What the gate charges each attempt: `expected_tokens`, or 0.
    tokens: TokenStream,
    breaker: Option<(Use, Ident)>,
    budget: Option<(Use, Ident)>,
    fallback: Option<&'a syn::Path>,
}

impl<'a> Shared<'a> {
    fn new(args: &'a RetryArgs, rt: &Runtime) -> Self {
        let mut lets = TokenStream::new();
        let mut bind = |arg: &Option<crate::args::Arg<syn::Expr>>, name: &str| {
            arg.as_ref().map(|arg| {
                let at = Use::new(rt, arg.key.span());
                let local = Ident::new(name, at.span);
                let expr = &arg.value;
                lets.extend(quote_spanned!(at.span=> let #local = &(#expr);));
                (at, local)
            })
        };
        let gate = bind(&args.admission, "__retry_gate");
        let breaker = bind(&args.circuit_breaker, "__retry_breaker");
        let budget = bind(&args.budget, "__retry_budget");
        let tokens = match &args.expected_tokens {
            Some(arg) => {
                let at = Use::new(rt, arg.key.span());
                let (local, p, expr) = (
                    Ident::new("__retry_tokens", at.span),
                    &at.private,
                    &arg.value,
                );
                lets.extend(quote_spanned!(at.span=> let #local = #p::token_cost(#expr);));
                local.into_token_stream()
            }
            None => quote!(0),
        };
        Shared {
            lets,
            gate,
            tokens,
            breaker,
            budget,
            fallback: args.fallback.as_ref().map(|arg| &arg.value),
        }
    }

    // The attempt behind the breaker, behind the gate: an attempt waits at the gate first, so
    // that a half-open breaker's probe permit is not held through that wait.
    fn guard(&self, calls: &CallUses, is_async: bool, run: TokenStream) -> TokenStream {
        let run = self.guard_breaker(calls, run);
        let Some((at, gate)) = &self.gate else {
            return run;
        };
        let p = &at.private;
        let admitted = Ident::new("__retry_admitted", at.span);
        let refused = Ident::new("__retry_not_admitted", at.span);
        let outcome = Ident::new("__retry_outcome", at.span);
        let (method, awaited) = if is_async {
            ("pass_gate_async", Some(quote!(.await)))
        } else {
            ("pass_gate", None)
        };
        let tokens = &self.tokens;
        let pass = at.method(
            method,
            &quote_spanned!(at.span=> #p::as_gate(#gate), #tokens),
            awaited,
        );
        let leave = calls.at_ret.method(
            "leave_gate",
            &quote_spanned!(at.span=> #admitted, &#outcome),
            None,
        );
        quote_spanned! {at.span=>
            match #pass {
                #p::Result::Ok(#admitted) => {
                    let #outcome = #run;
                    #leave;
                    #outcome
                }
                #p::Result::Err(#refused) => #refused,
            }
        }
    }

    fn guard_breaker(&self, calls: &CallUses, run: TokenStream) -> TokenStream {
        let Some((at, breaker)) = &self.breaker else {
            return run;
        };
        let p = &at.private;
        let permit = Ident::new("__retry_permit", at.span);
        let refused = Ident::new("__retry_refused", at.span);
        let outcome = Ident::new("__retry_outcome", at.span);
        let admit = at.method(
            "admit",
            &quote_spanned!(at.span=> #p::as_breaker(#breaker)),
            None,
        );
        let settle = calls.at_ret.method(
            "settle",
            &quote_spanned!(at.span=> #permit, &#outcome),
            None,
        );
        quote_spanned! {at.span=>
            match #admit {
                #p::Result::Ok(#permit) => {
                    let #outcome = #run;
                    #settle;
                    #outcome
                }
                #p::Result::Err(#refused) => #refused,
            }
        }
    }

    fn decide(&self, calls: &CallUses, outcome: &Ident) -> TokenStream {
        match &self.budget {
            None => calls.decide(outcome),
            Some((at, budget)) => {
                let p = &at.private;
                let args = quote_spanned!(at.span=> #outcome, #p::as_budget(#budget));
                calls.at_ret.method("decide_budgeted", &args, None)
            }
        }
    }

    fn on_return(
        &self,
        calls: &CallUses,
        rt: &Runtime,
        is_async: bool,
        r: &Ident,
        forward: &[TokenStream],
    ) -> TokenStream {
        let Some(path) = self.fallback else {
            return quote!(return #r);
        };
        // Every token of the call at the `fallback` path, so that a fallback
        // whose parameters or return type differ is reported there; the
        // arguments keep their hygiene.
        let span = path.span();
        let forward = forward.iter().map(|arg| relocate(arg.clone(), span));
        let fallback_call = quote_spanned!(span=> #path(#(#forward),*));
        let falls_back = calls.at_ret.method("falls_back", &quote!(&#r), None);
        let at_path = Use::new(rt, span);
        let (prepare, fall_back) = if is_async {
            let fall_back = at_path.method("fall_back_async", &fallback_call, Some(quote!(.await)));
            (None, fall_back)
        } else {
            // A named closure, so that the lint a fallback without parameters draws can be
            // allowed on its `let`.
            let fallback = Ident::new("__retry_fallback", at_path.span);
            let prepare = quote_spanned! {at_path.span=>
                #[allow(clippy::redundant_closure)]
                let #fallback = || #fallback_call;
            };
            (Some(prepare), at_path.method("fall_back", &fallback, None))
        };
        quote! {{
            if #falls_back {
                #prepare
                return #fall_back;
            }
            return #r;
        }}
    }
}

// Moves every token to `span` for error reporting, keeping how it resolves.
fn relocate(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), relocate(g.stream(), span));
                group.set_span(g.span().located_at(span));
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(tt.span().located_at(span));
            }
            tt
        })
        .collect()
}

/// What is inside the braces of a function body.
fn block_contents(body: &TokenStream) -> TokenStream {
    let mut tokens = body.clone().into_iter();
    match (tokens.next(), tokens.next()) {
        (Some(TokenTree::Group(group)), None) if group.delimiter() == Delimiter::Brace => {
            group.stream()
        }
        _ => body.clone(),
    }
}

fn call_ident() -> Ident {
    Ident::new("__retry_call", Span::mixed_site())
}

// Every generated use of `Call` carries the bounds `R: RetryResult` and
// `R::Err: Classify` (and, timed, `R::Err: TimeoutInto`). All of them are
// spanned at one user token, the return type (the timed ones at the
// `attempt_timeout`/`deadline` key), so that a failed bound is one error:
// rustc reports a predicate once per span. `Call`'s methods are called by
// path, with its `R` left to inference until the attempt fixes it: a method
// call on a `Call<R>` whose `R` is known and fails the bound would instead be
// E0599 ("method exists but its trait bounds were not satisfied"), once per
// method.
struct CallUses {
    // Whether the return type can be written in a turbofish (no `impl Trait`).
    nameable: bool,
    at_ret: Use,
    at_key: Option<Use>,
    check_return: Option<TokenStream>,
    check_timeout: Option<TokenStream>,
    new: TokenStream,
}

impl CallUses {
    fn new(rt: &Runtime, ret: &Type, timeout_key: Option<&Ident>) -> Self {
        let nameable = !item::mentions_impl(ret.to_token_stream());
        let at_ret = Use::new(rt, ret.span());
        let at_key = timeout_key.map(|key| Use::new(rt, key.span()));
        let check_return = nameable.then(|| at_ret.check("check_return", ret));
        let check_timeout = at_key
            .as_ref()
            .filter(|_| nameable)
            .map(|at_key| at_key.check("check_timeout_capable", ret));
        let (span, p) = (at_ret.span, &at_ret.private);
        let (policy, counters) = (policy_ident(), counters_ident());
        let new = quote_spanned!(span=> #p::Call::new(&#policy, &#counters));
        CallUses {
            nameable,
            at_ret,
            at_key,
            check_return,
            check_timeout,
            new,
        }
    }

    fn run(&self, is_async: bool, attempt: &TokenStream) -> TokenStream {
        let (at, method, awaited) = match (is_async, &self.at_key) {
            (false, _) => (&self.at_ret, "run", None),
            (true, None) => (&self.at_ret, "run_async", Some(quote!(.await))),
            (true, Some(at_key)) => (at_key, "run_async_timed", Some(quote!(.await))),
        };
        at.method(method, attempt, awaited)
    }

    fn decide(&self, outcome: &Ident) -> TokenStream {
        self.at_ret.method("decide", outcome, None)
    }

    fn sleep(&self, is_async: bool, wait: &Ident) -> TokenStream {
        if is_async {
            self.at_ret
                .method("sleep_async", wait, Some(quote!(.await)))
        } else {
            self.at_ret.method("sleep", wait, None)
        }
    }
}

// The runtime path and generated locals, placed at one user token.
struct Use {
    private: TokenStream,
    span: Span,
}

impl Use {
    fn new(rt: &Runtime, user: Span) -> Self {
        let span = Span::mixed_site().located_at(user);
        Use {
            private: rt.private_at(span),
            span,
        }
    }

    // `check::<R>()`, with `R` at the user token too: rustc reports the
    // bound at the turbofish argument. `R` resolves as before, since at
    // mixed-site only locals, labels and `$crate` are hygienic (and `respan`
    // keeps `$crate`).
    fn check(&self, check: &str, ret: &Type) -> TokenStream {
        let (span, p) = (self.span, &self.private);
        let check = Ident::new(check, span);
        let ret = super::respan(ret.to_token_stream(), span);
        quote_spanned!(span=> #p::#check::<#ret>();)
    }

    // `Call::method(&mut __retry_call, arg)`, optionally awaited.
    fn method(
        &self,
        method: &str,
        arg: &dyn ToTokens,
        awaited: Option<TokenStream>,
    ) -> TokenStream {
        let (span, p) = (self.span, &self.private);
        let method = Ident::new(method, span);
        let call = Ident::new(&call_ident().to_string(), span);
        let awaited = awaited.map(|a| super::respan(a, span));
        quote_spanned!(span=> #p::Call::#method(&mut #call, #arg) #awaited)
    }
}
