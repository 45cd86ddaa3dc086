import { Namespaces } from "../../components/namespaces";

export default function Page() {
  return <Namespaces />;
}
