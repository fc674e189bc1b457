// `npm run lint` runs this beside scripts/check-imports.ts (which owns dependency direction).
// typescript-eslint's `recommended` without type information: the type-checked presets build a
// whole program per run, too slow on two shared cores; `npm run typecheck` covers the types.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["**/node_modules/**", "libs/db/src/generated/**", "models/**", "helm/**", "coverage/**", ".eiaas/**", ".tmp/**"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // ~440 `any`s, mostly JSON bodies read in tests; typing them is its own change, not a lint fix.
      "@typescript-eslint/no-explicit-any": "off",
      // `_`-prefixed names are the house way to drop a field (`const { a: _a, ...rest } = o`) or an arg.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true }],
      // Matching ANSI escapes and NUL bytes is the point of the regexes that have them.
      "no-control-regex": "off",
      // Table-output tests match the literal column gaps kubectl prints; `{2}` would hide them.
      "no-regex-spaces": "off",
      // A `let` that a callback reads before the one assignment (e.g. the feed's onError and the
      // cache it invalidates) cannot be a `const`: the callback would hit the temporal dead zone.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // The field-set trie walks from `this` with a cursor; arrow functions already keep `this`.
      "@typescript-eslint/no-this-alias": "off",
    },
  },
);
