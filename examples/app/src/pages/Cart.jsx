import { useMemo, useState } from "react";
import { Layout } from "../components/Layout.jsx";
import { Price } from "../components/Price.jsx";
import { CATEGORIES, findProduct } from "../lib/catalog.js";
import { discounted, formatNumber, formatPrice } from "../lib/format.js";
import { shopFromProps } from "../lib/shop-context.js";

const DEFAULT_ITEMS = [
  { productId: "kettle-01", quantity: 1 },
  { productId: "bulb-pack", quantity: 3 },
  { productId: "throw-wool", quantity: 2 },
];

// Props (all optional): items [{productId, quantity}], shippingThreshold,
// shippingFee, plus the shop props (locale, currency, user, ...).
export function Cart(props) {
  const [items] = useState(props.items ?? DEFAULT_ITEMS);
  const shop = shopFromProps({ ...props, cartCount: props.cartCount ?? items.length });
  const lines = useMemo(
    () =>
      items
        .map((item) => ({ ...item, product: findProduct(item.productId) }))
        .filter((line) => line.product !== undefined),
    [items],
  );
  const subtotal = lines.reduce(
    (sum, line) => sum + discounted(line.product.price, line.product.percentOff) * line.quantity,
    0,
  );
  const threshold = props.shippingThreshold ?? 50;
  const shipping = subtotal >= threshold || subtotal === 0 ? 0 : (props.shippingFee ?? 4.95);
  const total = subtotal + shipping;
  const { locale, currency } = shop;
  return (
    <Layout shop={shop} categories={CATEGORIES}>
      <h1>Your cart</h1>
      {lines.length === 0 ? (
        <p className="empty">Your cart is empty.</p>
      ) : (
        <table className="cart">
          <thead>
            <tr>
              <th>Product</th>
              <th>Price</th>
              <th>Quantity</th>
              <th>Line total</th>
            </tr>
          </thead>
          <tbody>
            {lines.map((line) => (
              <tr key={line.productId}>
                <td>
                  <a href={`/p/${line.product.id}`}>{line.product.name}</a>
                </td>
                <td>
                  <Price value={line.product.price} percentOff={line.product.percentOff} />
                </td>
                <td>{formatNumber(line.quantity, locale)}</td>
                <td>
                  {formatPrice(
                    discounted(line.product.price, line.product.percentOff) * line.quantity,
                    locale,
                    currency,
                  )}
                </td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th colSpan={3}>Subtotal</th>
              <td>{formatPrice(subtotal, locale, currency)}</td>
            </tr>
            <tr>
              <th colSpan={3}>Shipping</th>
              <td>{shipping === 0 ? "Free" : formatPrice(shipping, locale, currency)}</td>
            </tr>
            <tr className="total">
              <th colSpan={3}>Total</th>
              <td>{formatPrice(total, locale, currency)}</td>
            </tr>
          </tfoot>
        </table>
      )}
    </Layout>
  );
}
