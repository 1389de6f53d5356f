import { createContext, useContext } from "react";

export const DEFAULT_SHOP = {
  locale: "en-US",
  currency: "USD",
  user: null,
  cartCount: 0,
  storeName: "Northwind Home",
};

export const ShopContext = createContext(DEFAULT_SHOP);

export function useShop() {
  return useContext(ShopContext);
}

// Builds the context value from page props, falling back to the defaults.
export function shopFromProps(props) {
  return {
    locale: props.locale ?? DEFAULT_SHOP.locale,
    currency: props.currency ?? DEFAULT_SHOP.currency,
    user: props.user ?? DEFAULT_SHOP.user,
    cartCount: props.cartCount ?? DEFAULT_SHOP.cartCount,
    storeName: props.storeName ?? DEFAULT_SHOP.storeName,
  };
}
