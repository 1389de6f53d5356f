export function Hero({ title, subtitle, cta }) {
  return (
    <section className="hero">
      <h1>{title}</h1>
      {subtitle ? <p>{subtitle}</p> : null}
      {cta ? (
        <a className="button" href={cta.href}>
          {cta.label}
        </a>
      ) : null}
    </section>
  );
}
