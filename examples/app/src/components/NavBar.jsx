export function NavBar({ categories, active }) {
  return (
    <nav className="nav" aria-label="Categories">
      <ul>
        {categories.map((category) => (
          <li key={category.slug} className={category.slug === active ? "active" : undefined}>
            <a href={`/c/${category.slug}`} aria-current={category.slug === active ? "page" : undefined}>
              {category.name}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
