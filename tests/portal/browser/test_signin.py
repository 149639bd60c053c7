"""Signing in to the admin through a real browser."""

import pytest
from playwright.sync_api import expect

from .conftest import ADMIN_LOGIN_ERROR

ALL_STYLESHEETS_LOADED = """() => {
    const sheets = [...document.styleSheets];
    return sheets.length > 0 && sheets.every(sheet => sheet.cssRules.length > 0);
}"""


@pytest.mark.parametrize("username", ["auditor-bank", "admin"])
def test_a_demo_user_signs_in_and_sees_their_name(page, portal_server, sign_in, shot, username):
    sign_in(page, username)

    expect(page).to_have_url(f"{portal_server.url}/admin/")
    expect(page.locator("#user-tools strong")).to_have_text(username)
    # The admin's stylesheets are served (runserver --insecure, DEBUG off).
    assert page.evaluate(ALL_STYLESHEETS_LOADED)
    if username == "auditor-bank":
        shot(page, "signin")


def test_a_wrong_password_is_refused_with_the_admins_message(page, portal_server, shot):
    page.goto(f"{portal_server.url}/admin/login/")
    page.get_by_label("Username:").fill("auditor-shop")
    page.get_by_label("Password:").fill("not-" + portal_server.credentials["auditor-shop"])
    page.get_by_role("button", name="Log in").click()

    expect(page.locator(".errornote")).to_have_text(ADMIN_LOGIN_ERROR)
    expect(page.locator("#user-tools")).to_have_count(0)
    shot(page, "signin-refused")
    # Still signed out: the admin sends the browser back to its login page.
    page.goto("/admin/")  # relative URLs resolve against the portal server (base_url)
    expect(page).to_have_url(f"{portal_server.url}/admin/login/?next=/admin/")
