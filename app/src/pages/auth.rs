//! Sign-in and sign-up. Plain HTML forms posting to the server's `/auth/*` endpoints, so they work
//! before (and without) hydration; the server redirects back with `?error=<code>` on failure.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::ui::{BUTTON_PRIMARY, INPUT};

/// The message for each error code the server's auth endpoints redirect with.
pub fn auth_error_message(code: &str) -> &'static str {
    match code {
        "invalid_credentials" => "That email and password do not match an account.",
        "rate_limited" => "Too many attempts. Wait 15 minutes and try again.",
        "email_taken" => "An account with this email already exists. Sign in instead.",
        "invalid_email" => "Enter a valid email address.",
        "weak_password" => "Use a password of at least 10 characters.",
        "email_not_confirmed" => "Confirm your email address first (see the email you were sent).",
        "auth_unavailable" => "Sign-in is unavailable right now. Try again in a minute.",
        "invalid_session" => "Your session from the main app has expired. Sign in again.",
        _ => "That request could not be processed. Please try again.",
    }
}

#[component]
fn AuthCard(
    title: &'static str,
    action: &'static str,
    submit: &'static str,
    password_autocomplete: &'static str,
    footer: AnyView,
) -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error").map(|c| auth_error_message(&c));
    view! {
        <Title text=format!("{title} · Rarity Leads")/>
        <main class="flex min-h-screen items-center justify-center px-4 py-10">
            <div class="w-full max-w-sm">
                <div class="mb-8 flex items-center gap-2 text-sm font-medium">
                    <span class="inline-block h-2 w-2 rounded-full bg-accent" aria-hidden="true"></span>
                    "Rarity Leads"
                </div>
                <h1 class="text-2xl font-medium tracking-tight">{title}</h1>
                <p class="mt-1 text-sm text-muted">"WhatsApp for your sales team."</p>
                <form method="post" action=action class="mt-8 flex flex-col gap-4">
                    <div class="flex flex-col gap-1.5">
                        <label for="email" class="text-xs text-muted">"Email"</label>
                        <input id="email" name="email" type="email" required autocomplete="email"
                            class=INPUT data-testid="auth-email"/>
                    </div>
                    <div class="flex flex-col gap-1.5">
                        <label for="password" class="text-xs text-muted">"Password"</label>
                        <input id="password" name="password" type="password" required minlength="10" maxlength="1024"
                            autocomplete=password_autocomplete class=INPUT data-testid="auth-password"/>
                    </div>
                    <p role="alert" aria-live="polite" class="min-h-5 text-sm text-danger" data-testid="auth-error">
                        {error}
                    </p>
                    <button type="submit" class=BUTTON_PRIMARY data-testid="auth-submit">{submit}</button>
                </form>
                <p class="mt-6 text-sm text-muted">{footer}</p>
            </div>
        </main>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <AuthCard
            title="Sign in"
            action="/auth/login"
            submit="Sign in"
            password_autocomplete="current-password"
            footer=view! { "No account yet? " <a href="/signup" class="text-fg underline underline-offset-4">"Create one"</a> }.into_any()
        />
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    view! {
        <AuthCard
            title="Create your account"
            action="/auth/signup"
            submit="Create account"
            password_autocomplete="new-password"
            footer=view! { "Already have an account? " <a href="/login" class="text-fg underline underline-offset-4">"Sign in"</a> }.into_any()
        />
    }
}
