// Locale-aware formatting helpers. Prices go through
// Number.prototype.toLocaleString (one call per price on a page); percentages
// and dates use Intl formatters cached per locale.

const percentFormats = new Map();
const dateFormats = new Map();

export function formatPrice(value, locale, currency) {
  return value.toLocaleString(locale, { style: "currency", currency });
}

export function formatNumber(value, locale) {
  return value.toLocaleString(locale);
}

export function formatPercent(fraction, locale) {
  let fmt = percentFormats.get(locale);
  if (fmt === undefined) {
    fmt = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });
    percentFormats.set(locale, fmt);
  }
  return fmt.format(fraction);
}

// Dates are formatted in UTC so the output does not depend on the host zone.
export function formatDate(iso, locale) {
  let fmt = dateFormats.get(locale);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" });
    dateFormats.set(locale, fmt);
  }
  return fmt.format(new Date(iso));
}

export function discounted(price, percentOff) {
  return Math.round(price * (100 - percentOff)) / 100;
}
