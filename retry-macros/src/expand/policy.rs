// The policy of the function, a `static` built with the runtime's const
// builder, naming only the keys the user gave (the defaults are the
// runtime's).
//
// Input:
//     #[retry(max_attempts = 5, wait = exponential(1, 60), on = [RateLimit, Timeout(max_attempts = 2)])]
//     fn fetch(..) -> Result<T, E> { .. }
//
// Output:
//     static __RETRY_POLICY: ::retry_runtime::__private::RetryPolicy =
//         ::retry_runtime::__private::RetryPolicy::new()
//             .named(::retry_runtime::__private::concat!(
//                 ::retry_runtime::__private::module_path!(), "::", "fetch"))
//             .max_attempts(5)
//             .wait(::retry_runtime::__private::Wait::exponential(
//                 ::retry_runtime::__private::Duration::from_nanos(1000000000),
//                 ::retry_runtime::__private::Duration::from_nanos(60000000000)))
//             .on(::retry_runtime::__private::ClassSet::EMPTY
//                 .with(::retry_runtime::__private::ErrorClass::RateLimit)
//                 .with(::retry_runtime::__private::ErrorClass::Timeout))
//             .class_max_attempts(::retry_runtime::__private::ErrorClass::Timeout, 2);
//     static __RETRY_COUNTERS: ::retry_runtime::__private::Counters =
//         ::retry_runtime::__private::Counters::new();

use super::Runtime;
use crate::args::{Jitter, RetryArgs};
use crate::duration::DurationLit;
use crate::wait::WaitKind;
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

pub(super) fn policy_ident() -> Ident {
    Ident::new("__RETRY_POLICY", Span::mixed_site())
}

/// The function's live counters, a `static` beside its policy: the policy is configuration.
pub(super) fn counters_ident() -> Ident {
    Ident::new("__RETRY_COUNTERS", Span::mixed_site())
}

pub(super) fn policy_static(args: &RetryArgs, fn_name: &Ident, rt: &Runtime) -> TokenStream {
    let p = rt.private();
    let name = fn_name.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    let duration = |d: &DurationLit| {
        let nanos = Literal::u64_unsuffixed(d.nanos);
        quote!(#p::Duration::from_nanos(#nanos))
    };

    let mut calls = Vec::new();
    calls.push(quote! {
        .named(#p::concat!(#p::module_path!(), "::", #name))
    });
    if let Some(arg) = &args.max_attempts {
        let n = Literal::u32_unsuffixed(arg.value);
        calls.push(quote!(.max_attempts(#n)));
    }
    if let Some(arg) = &args.wait {
        let wait = &arg.value;
        let ctor = Ident::new(
            match wait.kind {
                WaitKind::Fixed => "fixed",
                WaitKind::Exponential => "exponential",
                WaitKind::Linear => "linear",
                WaitKind::Decorrelated => "decorrelated",
            },
            wait.name.span(),
        );
        let durations = wait.args.iter().map(duration);
        calls.push(quote!(.wait(#p::Wait::#ctor(#(#durations),*))));
    }
    if let Some(arg) = &args.jitter {
        let variant = match arg.value {
            Jitter::Full => "Full",
            Jitter::Equal => "Equal",
            Jitter::None => "None",
        };
        let variant = format_ident!("{}", variant, span = arg.key.span());
        calls.push(quote!(.jitter(#p::Jitter::#variant)));
    }
    if let Some(arg) = &args.on {
        let classes = arg.value.iter().map(|c| &c.name);
        calls.push(quote! {
            .on(#p::ClassSet::EMPTY #(.with(#p::ErrorClass::#classes))*)
        });
        for class in &arg.value {
            if let Some(cap) = class.max_attempts {
                let name = &class.name;
                let cap = Literal::u32_unsuffixed(cap);
                calls.push(quote!(.class_max_attempts(#p::ErrorClass::#name, #cap)));
            }
        }
    }
    if let Some(arg) = &args.fallback_on {
        let classes = &arg.value;
        calls.push(quote! {
            .fallback_on(#p::ClassSet::EMPTY #(.with(#p::ErrorClass::#classes))*)
        });
    }
    for (method, arg) in [
        ("deadline", &args.deadline),
        ("attempt_timeout", &args.attempt_timeout),
        ("max_retry_after", &args.max_retry_after),
    ] {
        if let Some(arg) = arg {
            let method = Ident::new(method, arg.key.span());
            let d = duration(&arg.value);
            calls.push(quote!(.#method(#d)));
        }
    }

    let (policy, counters) = (policy_ident(), counters_ident());
    quote_spanned! {Span::mixed_site()=>
        static #policy: #p::RetryPolicy = #p::RetryPolicy::new() #(#calls)*;
        static #counters: #p::Counters = #p::Counters::new();
    }
}
