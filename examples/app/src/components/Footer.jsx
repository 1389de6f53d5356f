import { useShop } from "../lib/shop-context.js";

const LINKS = [
  { href: "/about", label: "About us" },
  { href: "/shipping", label: "Shipping & returns" },
  { href: "/privacy", label: "Privacy" },
  { href: "/contact", label: "Contact" },
];

export function Footer() {
  const { storeName, locale, currency } = useShop();
  return (
    <footer className="site-footer">
      <ul className="links">
        {LINKS.map((link) => (
          <li key={link.href}>
            <a href={link.href}>{link.label}</a>
          </li>
        ))}
      </ul>
      <p className="locale">
        {locale} · {currency}
      </p>
      <p className="copyright">© 2025 {storeName}</p>
    </footer>
  );
}
