import { useId } from "react";
import { useShop } from "../lib/shop-context.js";
import { formatNumber } from "../lib/format.js";

export function Header() {
  const { storeName, user, cartCount, locale } = useShop();
  const searchId = useId();
  return (
    <header className="site-header">
      <a className="brand" href="/">
        {storeName}
      </a>
      <form className="search" role="search" action="/search" method="get">
        <label htmlFor={searchId} className="visually-hidden">
          Search the store
        </label>
        <input id={searchId} type="search" name="q" placeholder="Search…" />
      </form>
      <div className="account">
        {user ? <span>Welcome back, {user.name}</span> : <a href="/login">Sign in</a>}
        <a className="cart-link" href="/cart">
          Cart ({formatNumber(cartCount, locale)})
        </a>
      </div>
    </header>
  );
}
