import { useShop } from "../lib/shop-context.js";
import { formatNumber } from "../lib/format.js";

export function Rating({ value, count }) {
  const { locale } = useShop();
  const full = Math.round(value);
  const label = `${value.toLocaleString(locale, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} / 5`;
  return (
    <span className="rating" aria-label={label}>
      <span aria-hidden="true">{"★".repeat(full) + "☆".repeat(5 - full)}</span>
      {count !== undefined ? <span className="count"> ({formatNumber(count, locale)})</span> : null}
    </span>
  );
}
