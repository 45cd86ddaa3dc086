// What route handlers may use: the services the container built (never a store client directly).
export type { Services as ApiServices } from "../container";
