// Built-in demo catalog, used when a page is rendered without data in props.

export const CATEGORIES = [
  { slug: "kitchen", name: "Kitchen" },
  { slug: "garden", name: "Garden" },
  { slug: "office", name: "Office" },
  { slug: "lighting", name: "Lighting" },
  { slug: "textiles", name: "Textiles" },
];

export const PRODUCTS = [
  { id: "kettle-01", name: "Stovetop Kettle", category: "kitchen", price: 49.9, percentOff: 0, rating: 4.6, reviews: 1284, stock: 12, description: "Enamelled steel kettle with a whistling spout." },
  { id: "mug-set", name: "Stoneware Mug Set (4)", category: "kitchen", price: 32, percentOff: 15, rating: 4.4, reviews: 532, stock: 40, description: "Four hand-glazed mugs, 350 ml each." },
  { id: "planter-l", name: "Terracotta Planter L", category: "garden", price: 27.5, percentOff: 0, rating: 4.1, reviews: 87, stock: 0, description: "Frost-resistant planter, 30 cm diameter." },
  { id: "shears", name: "Pruning Shears", category: "garden", price: 18.95, percentOff: 10, rating: 4.7, reviews: 2210, stock: 150, description: "Bypass shears with a hardened steel blade." },
  { id: "desk-oak", name: "Oak Writing Desk", category: "office", price: 1249, percentOff: 20, rating: 4.8, reviews: 64, stock: 3, description: "Solid oak desk with two drawers." },
  { id: "chair-mesh", name: "Mesh Office Chair", category: "office", price: 389, percentOff: 0, rating: 4.2, reviews: 9810, stock: 22, description: "Adjustable lumbar support and armrests." },
  { id: "lamp-arc", name: "Arc Floor Lamp", category: "lighting", price: 219, percentOff: 5, rating: 3.9, reviews: 341, stock: 8, description: "Dimmable LED arc lamp, 2,700 K." },
  { id: "bulb-pack", name: "LED Bulb 6-pack", category: "lighting", price: 14.99, percentOff: 0, rating: 4.5, reviews: 15032, stock: 500, description: "E27, 806 lm, 8.5 W." },
  { id: "throw-wool", name: "Wool Throw", category: "textiles", price: 89, percentOff: 25, rating: 4.9, reviews: 420, stock: 17, description: "Merino wool, 130 × 170 cm." },
  { id: "cushion", name: "Linen Cushion Cover", category: "textiles", price: 24, percentOff: 0, rating: 4.0, reviews: 198, stock: 65, description: "Stonewashed linen, 45 × 45 cm." },
];

export const REVIEWS = {
  "kettle-01": [
    { id: "r1", author: "Mia", rating: 5, date: "2025-03-14T09:30:00Z", text: "Boils fast and looks great on the stove." },
    { id: "r2", author: "Jonas", rating: 4, date: "2025-04-02T18:05:00Z", text: "Whistle is loud — which is the point." },
    { id: "r3", author: "Aiko", rating: 5, date: "2025-05-21T07:45:00Z", text: "三年使っていますが、まだ新品のようです。" },
  ],
};

export function findProduct(id) {
  return PRODUCTS.find((p) => p.id === id);
}
