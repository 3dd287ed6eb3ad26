use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Nav, render};
use crate::accounts::Role;
use crate::auth::Access;
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};

pub fn register(reg: &mut Registry) {
    reg.add(M::Get, "/", Kind::Page, Access::User(None), "Home", home);
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    nav: Option<Nav>,
    display_name: String,
    org_name: String,
    role: &'static str,
    is_admin: bool,
}

async fn home(Auth(p): Auth) -> Response {
    render(
        StatusCode::OK,
        &Home {
            nav: Nav::of(&p),
            display_name: p.user.display_name.clone(),
            org_name: p.org.name.clone(),
            role: p.user.role.as_str(),
            is_admin: p.user.role == Role::Admin,
        },
    )
}
