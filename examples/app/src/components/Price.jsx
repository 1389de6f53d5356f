import { useShop } from "../lib/shop-context.js";
import { discounted, formatPercent, formatPrice } from "../lib/format.js";

export function Price({ value, percentOff = 0 }) {
  const { locale, currency } = useShop();
  if (!percentOff) {
    return <span className="price">{formatPrice(value, locale, currency)}</span>;
  }
  return (
    <span className="price on-sale">
      <del>{formatPrice(value, locale, currency)}</del>{" "}
      <ins>{formatPrice(discounted(value, percentOff), locale, currency)}</ins>{" "}
      <span className="badge">−{formatPercent(percentOff / 100, locale)}</span>
    </span>
  );
}
