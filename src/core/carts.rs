//! Every cart the core secured, kept until it is handed over. A ticket in the cart is the user's
//! money: whatever ends the run (the strategy returns or raises, Ctrl-C, SIGTERM, SIGHUP, a panic)
//! the app hands over what is still here before it exits. Recorded where every cart add passes
//! (`market::add_to_cart`, `shop::add_to_cart`), so no strategy can forget one, and as soon as the
//! cart POST's answer says so (its redirect reached the checkout), so a checkout page that then
//! stalls or fails cannot lose one either.

use std::sync::Mutex;
use std::time::Instant;

use url::Url;

use super::cookies::CookieInfo;

/// A cart the core saw land on a checkout page.
#[derive(Clone, Debug)]
pub struct SecuredCart {
    /// The session that holds it (see `Session::id`).
    pub session: u64,
    pub checkout_url: Url,
    /// The session's cookies at that moment.
    pub cookies: Vec<CookieInfo>,
    /// The reservation's end, as the checkout page says (`data-expires`); `None` when the page
    /// did not load.
    pub expires: Option<String>,
    pub ticket: String,
    pub price: String,
    pub at: Instant,
}

#[derive(Default)]
pub struct Carts {
    /// (cart, handed over).
    list: Mutex<Vec<(SecuredCart, bool)>>,
    /// How many of each article (pretix's cart-row id) each session's checkout last showed: a
    /// shop's cart add reserved what the checkout shows beyond it.
    held: Mutex<std::collections::HashMap<(u64, String), u32>>,
}

impl Carts {
    /// How many of `article` `session`'s checkout showed last (0 before any).
    pub fn held(&self, session: u64, article: &str) -> u32 {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(&(session, article.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// What `session`'s checkout shows of `article` now.
    pub fn set_held(&self, session: u64, article: &str, count: u32) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((session, article.to_string()), count);
    }

    pub fn record(&self, cart: SecuredCart) {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((cart, false));
    }

    /// What the checkout page said, once it loaded: where the checkout really is (pretix sends
    /// `checkout/start` on to its first step) and the reservation's end. For `session`'s newest
    /// cart, recorded from the cart POST's answer before that page was asked for.
    pub fn confirmed(&self, session: u64, checkout_url: &Url, expires: Option<String>) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((c, _)) = list.iter_mut().rev().find(|(c, _)| c.session == session) {
            c.checkout_url = checkout_url.clone();
            c.expires = expires.or(c.expires.take());
        }
    }

    /// Takes back `session`'s newest cart not handed over yet (recorded when the shop said added,
    /// then shown, positively, to be no cart); whether there was one.
    pub fn withdraw(&self, session: u64) -> bool {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        match list
            .iter()
            .rposition(|(c, done)| c.session == session && !done)
        {
            Some(i) => {
                list.remove(i);
                true
            }
            None => false,
        }
    }

    /// Marks every cart of `session` as handed over (the person has its cookies and checkout URL).
    pub fn handed_over(&self, session: u64) {
        for (c, done) in self
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            if c.session == session {
                *done = true;
            }
        }
    }

    /// Carts not handed over yet, one per session (a session's carts are one checkout), each with
    /// the newest cookies and deadline seen for it; marks them handed over.
    pub fn take_pending(&self) -> Vec<SecuredCart> {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<SecuredCart> = Vec::new();
        for (c, done) in list.iter_mut().filter(|(_, d)| !*d) {
            *done = true;
            match out.iter_mut().find(|o| o.session == c.session) {
                Some(o) => {
                    o.ticket = format!("{}, {}", o.ticket, c.ticket);
                    o.cookies = c.cookies.clone();
                    o.expires = c.expires.clone().or(o.expires.take());
                    o.checkout_url = c.checkout_url.clone();
                }
                None => out.push(c.clone()),
            }
        }
        out
    }

    /// When `session`'s newest cart was secured (its hand-over latency is measured from it).
    pub fn last_secured_at(&self, session: u64) -> Option<Instant> {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .find(|(c, _)| c.session == session)
            .map(|(c, _)| c.at)
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.list.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cart(session: u64, ticket: &str) -> SecuredCart {
        SecuredCart {
            session,
            checkout_url: Url::parse("https://t.example/e/checkout/questions/").unwrap(),
            cookies: Vec::new(),
            expires: None,
            ticket: ticket.into(),
            price: "1 EUR".into(),
            at: Instant::now(),
        }
    }

    #[test]
    fn pending_carts_are_taken_once_per_session() {
        let c = Carts::default();
        c.record(cart(1, "A"));
        c.record(cart(1, "B"));
        c.record(cart(2, "C"));
        c.record(cart(3, "D"));
        c.handed_over(3);
        let p = c.take_pending();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].ticket, "A, B");
        assert_eq!(p[1].ticket, "C");
        assert!(c.take_pending().is_empty());
        assert_eq!(c.count(), 4);
    }

    #[test]
    fn withdraw_takes_back_the_sessions_newest_pending_cart_only() {
        let c = Carts::default();
        c.record(cart(1, "A"));
        c.handed_over(1);
        c.record(cart(1, "B"));
        c.record(cart(2, "C"));
        assert!(c.withdraw(1));
        assert!(!c.withdraw(1), "A was handed over: it stays");
        let p = c.take_pending();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].ticket, "C");
    }
}
