// The white-label theme: product name, logo and colours come from theme.json (and the logo
// file in public/). A partner edits that file; no component names a colour or the product.
import theme from './theme.json';

export type Theme = typeof theme;
export { theme };

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** Sets the theme's colours as CSS variables (--color-primary, --platform-twitter, ...). */
export function applyTheme(root: HTMLElement = document.documentElement, t: Theme = theme): void {
  for (const [k, v] of Object.entries(t.colors)) root.style.setProperty(`--color-${kebab(k)}`, v);
  for (const [k, v] of Object.entries(t.platformColors)) root.style.setProperty(`--platform-${k}`, v);
  document.title = t.productName;
}

export function platformColor(platform: string): string {
  return (theme.platformColors as Record<string, string>)[platform] ?? theme.colors.muted;
}
