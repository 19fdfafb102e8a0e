// Lint and format in one pass, configured as Effect's own repository: dprint through
// @effect/eslint-plugin (2 spaces, no semicolons, double quotes, 120 columns) plus typescript-eslint.
import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/**", ".bench-build/**", "node_modules/**", "docs/**", "bench/results/**", ".docs-check/**", "tmp/**", ".glam/**", ".reliability-build/**", ".deploy/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    plugins: { "@effect": effect },
    rules: {
      "@effect/dprint": [
        "error",
        {
          config: {
            indentWidth: 2,
            lineWidth: 120,
            semiColons: "asi",
            quoteStyle: "alwaysDouble",
            trailingCommas: "never",
            operatorPosition: "maintain",
            "arrowFunction.useParentheses": "force"
          }
        }
      ],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read configuration through src/Config only." }
      ]
    }
  },
  {
    files: ["src/Config/**/*.ts", "test/**/*.ts", "bench/**/*.ts", "examples/**/*.ts", "vitest.config.ts"],
    rules: { "no-restricted-properties": "off" }
  }
)
